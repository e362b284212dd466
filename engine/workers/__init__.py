"""Generation on Ray Serve workers (issue 23), off by default: `WorkerStudio` (engine/workers/studio.py) is a second
implementation of `Studio.run`. Importing this package imports nothing of Ray; starting the workers does."""
