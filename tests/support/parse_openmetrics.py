"""Parses an OpenMetrics 1.0 text exposition from stdin with the Python
client library's parser, `prometheus_client.openmetrics.parser.
text_string_to_metric_families` (strict about `# EOF`, counter `_total`
suffixes, histogram rules, exemplar placement and the 128-character exemplar
label limit), and prints what it read as JSON:

    {"families": [{"name", "type", "unit", "help",
                   "samples": [{"name", "labels", "value", "timestamp",
                                "exemplar": null | {"labels", "value", "timestamp"}}]}]}

Values are strings (`repr` of the float) so that JSON carries them exactly.
A parse error exits 1 with the message on stderr. Used by
tests/support/prometheus.rs (`python_parse_openmetrics`).
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def timestamp(ts):
    if ts is None:
        return None
    if hasattr(ts, "sec"):
        return f"{ts.sec}.{ts.nsec:09d}"
    return repr(float(ts))


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    families = []
    try:
        for family in text_string_to_metric_families(text):
            families.append({
                "name": family.name,
                "type": family.type,
                "unit": family.unit,
                "help": family.documentation,
                "samples": [
                    {
                        "name": s.name,
                        "labels": s.labels,
                        "value": repr(float(s.value)),
                        "timestamp": timestamp(s.timestamp),
                        "exemplar": None if s.exemplar is None else {
                            "labels": s.exemplar.labels,
                            "value": repr(float(s.exemplar.value)),
                            "timestamp": timestamp(s.exemplar.timestamp),
                        },
                    }
                    for s in family.samples
                ],
            })
    except Exception as err:  # the parser raises ValueError and friends
        print(f"prometheus_client openmetrics parser: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)
    json.dump({"families": families}, sys.stdout, ensure_ascii=False)


main()
