"""One module per capability. Each has `run(request, ctx)`, receiving a narrow `TaskContext`, never the Studio.

Adding a capability: a request class in `engine/requests.py` whose `task` names a module here with `run`."""
