"""The one exception type for mistakes a user can fix (bad spec, missing data, impossible N).

The CLI turns it into a single line on stderr and exit code 2; everything else is a bug and
keeps its traceback.
"""


class UserError(Exception):
    """A problem the user caused and can fix; the message names the problem and the fix."""
