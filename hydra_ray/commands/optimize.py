"""`hydra-ray optimize`: send a program to a running hydra-ray service and print the ranked candidates."""
from __future__ import annotations

HELP = "optimise a Python program with a running `hydra-ray serve`: ranked candidates and the best program"
DESCRIPTION = """Send FILE.py to the service's POST /v1/optimize, print every candidate (verdict, reward
margin over the original, per-metric ratios with significance) and the best program — the original
when nothing beat it.

Verification: --tests (JSON/JSONL of {"input", "expected"}) and/or --input files (differential
testing: candidates must print what the original prints); with neither, behaviour on empty stdin.

examples:
  hydra-ray optimize slow.py --tests tests.json --weights runtime=0.7,memory=0.3
  hydra-ray optimize slow.py --input in1.txt --input in2.txt --preset memory --url http://10.0.0.5:8000
  hydra-ray optimize slow.py --preset runtime --output fast.py --json
"""


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value} (leave it out for the "
                                         "server's default)")
    return value


def _positive_seconds(text: str) -> float:
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):   # 0 or less waited 1 s and said "no answer within 0 s"
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text}")
    return value


def add_arguments(p) -> None:
    p.add_argument("program", metavar="FILE.py", help="the Python program to optimise")
    p.add_argument("--tests", help="JSON or JSONL file of {\"input\": stdin, \"expected\": stdout} objects")
    p.add_argument("--input", action="append", default=[], help="stdin file for differential testing (repeatable)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weights", help="e.g. runtime=0.7,memory=0.3 (latency|runtime, memory, cycles, throughput, "
                   "energy; they must sum to 1)")
    g.add_argument("--preset", help="named weights: runtime, memory, cycles, throughput, energy, balanced, …")
    p.add_argument("-n", "--candidates", type=_positive, help="candidates to generate (server default otherwise)")
    p.add_argument("--max-new-tokens", type=_positive, help="tokens per candidate (server default otherwise)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default %(default)s)")
    p.add_argument("--timeout", type=_positive_seconds, default=600.0, help="seconds to wait for the answer")
    p.add_argument("--output", help="write the best program to this file")
    p.add_argument("--json", action="store_true", help="print the service's full JSON answer instead of a table")


def _check_weights(parse_weights, weights: dict | None, preset: str | None) -> None:
    """The service's own rules (hydra_ray.serve.weights), applied here too; its words, said of the flag."""
    from hydra_ray.serve.weights import WeightsError

    try:
        parse_weights(weights, preset)
    except WeightsError as e:
        raise WeightsError(("--preset: " if preset is not None else "--weights: ") + str(e)) from None


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from hydra_ray.serve.client import (ClientError, call, check_output_path, check_url, format_result,
                                        optimize_body, read_tests, read_text_file)
    from hydra_ray.serve.weights import WeightsError, parse_weights, parse_weights_arg

    # Every local file, the URL and the weights are checked before the request is sent: a request can
    # take minutes, and with the service down a bad --weights was hidden behind "cannot reach".
    try:
        check_url(args.url)
        code = read_text_file(args.program, "FILE.py", python=True)
        weights = parse_weights_arg(args.weights) if args.weights is not None else None
        if weights is not None or args.preset is not None:
            _check_weights(parse_weights, weights, args.preset)
        tests = read_tests(args.tests) if args.tests else None
        inputs = [read_text_file(i, "--input") for i in args.input] or None
        if args.output:
            check_output_path(args.output)
        body = optimize_body(code, tests, inputs, weights, args.preset, args.candidates, args.max_new_tokens)
    except (ClientError, WeightsError) as e:
        print(f"hydra-ray optimize: {e}", file=sys.stderr)
        return 2
    if sys.stderr.isatty():   # a request takes seconds to minutes, and the answer comes whole: say so
        print(f"hydra-ray optimize: sent to {args.url}; generating and measuring candidates (up to --timeout "
              f"{args.timeout:g} s; Ctrl-C cancels it on the service too) ...", file=sys.stderr, flush=True)
    try:
        resp = call(args.url, "/v1/optimize", body, args.timeout,
                    note=lambda message: print(f"hydra-ray optimize: {message}", file=sys.stderr, flush=True))
    except ClientError as e:
        print(f"hydra-ray optimize: {e}", file=sys.stderr)
        return 1
    print(json.dumps(resp, indent=2) if args.json else format_result(resp))
    if args.output:
        try:
            Path(args.output).write_text(resp["best"]["code"])
        except OSError as e:   # checked before the request; changed while it ran
            print(f"hydra-ray optimize: --output: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
            return 1
    return 0
