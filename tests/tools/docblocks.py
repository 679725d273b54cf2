"""Blocks of a Markdown document that scripts run or check, marked by HTML comments:

    <!-- NAME -->
    ```sh
    ...
    ```
    <!-- /NAME -->
"""

import re


def fenced_block(text: str, name: str) -> str | None:
    """The code inside the fenced block marked NAME, or None when there is none."""
    match = re.search(rf"<!-- {name} -->\s*```\w*\n(.*?)```\s*<!-- /{name} -->", text, re.S)
    return match.group(1) if match else None
