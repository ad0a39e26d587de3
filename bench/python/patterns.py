"""The Python side of the pattern-engine benchmark (bench/src/bin/patterns.rs).

Runs LocalStack's EventBridge rule engine (localstack-core,
localstack.services.events.event_rule_engine) and moto's matcher (moto.events.models
.EventPattern) in-process, on exactly the events and rules the Rust side wrote:

- throughput: for each rule count N, every event is matched against the first N rules, one
  thread, for about --seconds of thread CPU time; events/s = events done / CPU seconds;
- agreement: every (event, rule) decision of the first --agreement-events events against all
  rules, compared with eventmart's decisions that the Rust side wrote beside them.

Both engines get every advantage the benchmark can give them: patterns are compiled once
(LocalStack's provider compiles the pattern on each call, moto parses it once per rule),
and events are already-parsed dicts (moto still copies each one through json.dumps/loads
inside matches_event; that is its own code). A pattern an engine rejects, or a call that
raises, counts as "no match" and is reported.

usage: patterns.py --data DATA.json --out RESULT.json [--seconds S]
                   [--agreement-events K] [--plot PNG]
"""

import argparse
import json
import sys
import time


def localstack_engine():
    from localstack.services.events.event_rule_engine import (
        EventPatternCompiler,
        EventRuleEngine,
    )

    compiler = EventPatternCompiler()
    engine = EventRuleEngine()

    def compile_(text):
        return compiler.compile_event_pattern(event_pattern=text)

    def match(compiled, event):
        return engine.evaluate_pattern_on_event(compiled_event_pattern=compiled, event=event)

    return compile_, match


def moto_engine():
    from moto.events.models import EventPattern

    def compile_(text):
        return EventPattern.load(text)

    def match(compiled, event):
        return compiled.matches_event(event)

    return compile_, match


ENGINES = {"localstack": localstack_engine, "moto": moto_engine}


def version(dist):
    try:
        from importlib.metadata import version as v

        return v(dist)
    except Exception:  # noqa: BLE001 - a missing version is only cosmetic
        return "?"


def run_engine(name, data, seconds, agreement_events):
    compile_, match = ENGINES[name]()
    rules = data["rules"]
    events = data["events"]
    compiled = []
    rejected = []
    for i, text in enumerate(rules):
        try:
            compiled.append(compile_(text))
        except Exception as e:  # noqa: BLE001 - an engine's rejection is a result
            compiled.append(None)
            rejected.append({"rule": i, "error": f"{type(e).__name__}: {e}"[:300]})

    errors = {"count": 0, "examples": []}

    def decide(c, event):
        if c is None:
            return False
        try:
            return bool(match(c, event))
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors["count"] += 1
            if len(errors["examples"]) < 5:
                errors["examples"].append(f"{type(e).__name__}: {e}"[:300])
            return False

    throughput = {}
    for n in data["counts"]:
        subset = compiled[:n]
        # Warm-up: a few events, not timed.
        for event in events[:3]:
            for c in subset:
                decide(c, event)
        done = 0
        matched = 0
        # Thread CPU time, as on the Rust side: other load on the machine does not count.
        start = time.thread_time()
        deadline = start + seconds
        while True:
            event = events[done % len(events)]
            for c in subset:
                if decide(c, event):
                    matched += 1
            done += 1
            now = time.thread_time()
            if now >= deadline and done >= 3:
                break
        elapsed = now - start
        throughput[str(n)] = {
            "events": done,
            "seconds": elapsed,
            "events_per_s": done / elapsed,
            "matches": matched,
        }
        print(f"{name}: {n} rules: {done / elapsed:,.0f} events/s", file=sys.stderr)

    # Agreement with eventmart's decisions.
    ours = data["decisions"]
    k = min(agreement_events, len(ours))
    agree = 0
    total = 0
    per_rule = {}
    examples = []
    for e in range(k):
        want = set(ours[e])
        event = events[e]
        for r, c in enumerate(compiled):
            got = decide(c, event)
            mine = r in want
            total += 1
            if got == mine:
                agree += 1
            else:
                per_rule[r] = per_rule.get(r, 0) + 1
                if len(examples) < 10:
                    examples.append({"event": e, "rule": r, "eventmart": mine, name: got})
    worst = sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {
        "version": version("localstack-core" if name == "localstack" else "moto"),
        "throughput": throughput,
        "rejected_rules": rejected,
        "errors": errors,
        "agreement": {
            "events": k,
            "decisions": total,
            "agree": agree,
            "disagree": total - agree,
            "rules_disagreeing": len(per_rule),
            "worst_rules": [{"rule": r, "disagreements": n} for r, n in worst],
            "examples": examples,
        },
    }


def plot(path, data, results):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001 - the plot is optional
        print(f"no plot: {e}", file=sys.stderr)
        return
    counts = data["counts"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    series = [("eventmart (Rust)", data.get("eventmart", {}))]
    series += [(name, r["throughput"]) for name, r in results.items()]
    for label, tp in series:
        ys = [tp.get(str(n), {}).get("events_per_s") for n in counts]
        if all(y is not None for y in ys):
            ax.plot(counts, ys, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rules")
    ax.set_ylabel("events/s, one thread")
    ax.set_title("EventBridge pattern matching throughput")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--agreement-events", type=int, default=200)
    ap.add_argument("--plot")
    ap.add_argument("--engines", default="localstack,moto")
    args = ap.parse_args()
    with open(args.data) as f:
        data = json.load(f)
    results = {}
    for name in args.engines.split(","):
        results[name] = run_engine(name, data, args.seconds, args.agreement_events)
    out = {"python": sys.version.split()[0], "engines": results}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    if args.plot:
        plot(args.plot, data, results)


if __name__ == "__main__":
    main()
