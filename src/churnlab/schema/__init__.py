"""Schemas of the files a user writes: `params.yaml` and `hypotheses.yaml`.

One place for both: `yamlfile` reads a YAML file into plain Python values (one-line errors for
a missing file, bytes that are not UTF-8, a syntax error, a key given twice); `problems` turns
a pydantic validation into one line per problem (key path, the value, what was expected) and
unknown keys into warnings with a did-you-mean; `params` is the model of every section and
key of params.yaml. The hypotheses entry model lives with its parser in
`churnlab.hypotheses.spec` and uses the same helpers.

To add a params key: add a field to the section's model in `params.py` (type, range, default
= the stage's own default), then use it in the stage with the same default.
"""

from churnlab.schema.params import validate_params
from churnlab.schema.problems import Problems
from churnlab.schema.yamlfile import read_yaml

__all__ = ["Problems", "read_yaml", "validate_params"]
