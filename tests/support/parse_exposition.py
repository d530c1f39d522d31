"""Parses a Prometheus text exposition (format 0.0.4) from stdin with the
Python client library's parser, `prometheus_client.parser.
text_string_to_metric_families`, and prints what it read as JSON:

    {"families": [{"name", "type", "help",
                   "samples": [{"name", "labels", "value", "timestamp"}]}]}

Values are strings (`repr` of the float: `inf`, `-inf`, `nan` included) so
that JSON carries them exactly. A parse error exits 1 with the message on
stderr. Used by tests/support/prometheus.rs (`python_parse`).
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    families = []
    try:
        for family in text_string_to_metric_families(text):
            families.append({
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "samples": [
                    {
                        "name": s.name,
                        "labels": s.labels,
                        "value": repr(float(s.value)),
                        "timestamp": None if s.timestamp is None else repr(s.timestamp),
                    }
                    for s in family.samples
                ],
            })
    except Exception as err:  # the parser raises ValueError and friends
        print(f"prometheus_client parser: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)
    json.dump({"families": families}, sys.stdout, ensure_ascii=False)


main()
