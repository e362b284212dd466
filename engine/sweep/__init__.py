"""X/Y/Z sweeps: axes (axes.py), their A1111 text (recipe.py) and the grid PNG (sheet.py); the request is in
engine/sweep_requests.py and the task in engine/tasks/sweep.py."""
