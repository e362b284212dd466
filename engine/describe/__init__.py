"""Describe: an image to prompt pieces (a BLIP caption and CLIP-ranked medium, style and lighting words)."""

from engine.describe.describing import (DEFAULT_TOP_K, Description, RankedGroup, RankedWord, compose_prompt,
                                        describe_image, describe_on, prompt_card)
from engine.describe.models import Describers, load_describers
from engine.describe.spec import MAX_TOP_K, DescribeSpec, WordGroup, load_describe_spec

__all__ = ["DEFAULT_TOP_K", "MAX_TOP_K", "DescribeSpec", "Describers", "Description", "RankedGroup", "RankedWord",
           "WordGroup", "compose_prompt", "describe_image", "describe_on", "load_describe_spec", "load_describers",
           "prompt_card"]
