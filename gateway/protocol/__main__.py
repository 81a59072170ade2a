"""``python -m gateway.protocol``: print the JSON Schema of every frame."""

import json
import sys

from gateway.protocol.codec import json_schema

json.dump(json_schema(), sys.stdout, indent=2, sort_keys=True)
sys.stdout.write("\n")
