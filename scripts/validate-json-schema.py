#!/usr/bin/env python3
"""Validate JSON documents against a JSON Schema (draft 2020-12) with Python's jsonschema.

Usage: validate-json-schema.py SCHEMA.json DOCUMENTS.json
DOCUMENTS.json holds an array of documents; prints a JSON array with, per document, the list of
error messages (empty when it is valid), each followed by where in the document it is. Exits 2 when
the schema itself is not a valid draft 2020-12 schema. Used by Tests/GatehouseConfigTests/ConfigSchemaTests.
"""
import json
import sys

from jsonschema import Draft202012Validator


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    with open(sys.argv[2], encoding="utf-8") as handle:
        documents = json.load(handle)
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as error:  # the schema is the thing under test: say what is wrong with it
        print(f"invalid schema: {error}", file=sys.stderr)
        return 2
    validator = Draft202012Validator(schema)
    results = []
    for document in documents:
        errors = sorted(validator.iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
        results.append([f"{error.message} at /{'/'.join(map(str, error.absolute_path))}" for error in errors])
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
