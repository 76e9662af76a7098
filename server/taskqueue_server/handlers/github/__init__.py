"""Built-in GitHub import task types: `github_import_issues` and `github_import_milestones`.

Enable with `--handlers taskqueue_server.handlers.github` (or TASKQUEUE_HANDLERS). Settings:
TASKQUEUE_GITHUB_API_URL (GitHub Enterprise), TASKQUEUE_GITHUB_TOKEN, TASKQUEUE_GITHUB_TIMEOUT.
"""

# Importing the handlers registers them.
from .tasks import github_import_issues, github_import_milestones

__all__ = ["github_import_issues", "github_import_milestones"]
