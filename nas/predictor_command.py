"""`hwnas predictor evaluate | fit | predict`: latency predictors on a table of configs and latencies, apart
from any run folder (the CLI parses the arguments; this runs the verb)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def predictor_command(args: argparse.Namespace) -> str:
    """`hwnas predictor evaluate | fit | predict`; returns what to print."""
    import csv
    import io

    from predictors import PredictorError, load_predictor, save_predictor
    from predictors.intervals import check_coverage, describe_interval_quality, with_intervals
    from predictors.priors import MissingPriorError, table_priors
    from predictors.space_argument import resolve_space
    from predictors.table import evaluate_on_table, fit_on_table, read_rows, read_table
    from search_spaces import create_space

    from nas.run_folder import checked_output_file, write_atomically

    if args.predictor_verb in ("predict", "fit"):
        checked_output_file(args.out, "--out")
    if args.predictor_verb == "predict":
        coverage = None if args.interval is None else check_coverage(args.interval, "--interval")
        predictor, metadata = load_predictor(args.predictor_file)
        with_interval = None if coverage is None else with_intervals(predictor, metadata, args.predictor_file)
        columns, rows, configs = read_rows(args.table, resolve_space(predictor.space, type(predictor).__name__))
        try:
            predicted = predictor.predict(configs)
            bounds = [] if with_interval is None else with_interval.predict_interval(configs, coverage)
        except MissingPriorError as error:
            raise PredictorError(f"table '{args.table}' line {error.position + 2}: {error}") from None
        added = ["predicted"] + (["low", "high"] if bounds else [])
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=[*columns, *added])
        writer.writeheader()
        for row, *values in zip(rows, predicted, *bounds):
            writer.writerow({**row, **{name: f"{value:.6g}" for name, value in zip(added, values)}})
        write_atomically(Path(args.out), text.getvalue().encode("utf-8"))
        return f"{len(rows)} predictions written to {args.out}" + (
            "" if coverage is None else f" with {coverage:.0%} intervals (low, high)")
    space = create_space(args.space)
    configs, targets = read_table(args.table, space, args.target)
    priors = table_priors(args, space)
    if args.predictor_verb == "evaluate":
        result = evaluate_on_table(space, configs, targets, args.train_size, args.seed, args.model, priors)
        result.pop("interval")  # the calibration itself (up to 1,000 residuals) is for a saved file, not a report
        return json.dumps({"space": args.space, "table": args.table, "target": args.target, **result})
    predictor, metadata = fit_on_table(space, configs, targets, args.model, args.train_size, args.seed, priors)
    save_predictor(predictor, args.out, metadata={**metadata, "table": args.table, "target": args.target,
                                                  "prior_table": args.prior_table})
    held_out = describe_interval_quality(metadata)
    return f"{args.model} fitted on {metadata['n_train'] if args.train_size is None else args.train_size} rows " \
           f"of {args.table} ({args.target}), saved to {args.out}" + (
               f"; on the {metadata['n_test']} held-out rows: {held_out}" if held_out else "")
