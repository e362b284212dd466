"""The Library: every saved result indexed (SQLite, full-text search), with boards, stars, a trash and exports.
The PNGs in the outputs folder stay the source of truth; the database is an index that can be rebuilt from them."""

from engine.library.boards import Board, Boards
from engine.library.entries import PAGE_SIZE, Entry, Page, Query, parse_size
from engine.library.export import contact_sheet, export_board, iterate
from engine.library.lineage import Lineage, lineage_of
from engine.library.opening import open_library
from engine.library.store import Library

__all__ = ["PAGE_SIZE", "Board", "Boards", "Entry", "Library", "Lineage", "Page", "Query", "contact_sheet", "export_board",
           "iterate", "lineage_of", "open_library", "parse_size"]
