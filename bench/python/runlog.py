"""bench/python/runlog.py: what one run of a Python example left behind,
for bench/python/torch_example.sh and horovod_example.sh: rank 0's log
(accuracy, time, per-epoch accuracy, peak RSS, library warnings) and, for a
preloaded run, the statistics JSON (calls, wire ratio, memories per rank,
retired memories)."""
import json, os, re


def parse(out, name):
    text = open(os.path.join(out, name + ".log")).read()
    acc = re.search(r"final test accuracy: ([0-9.]+)%.*\(.*?([0-9.]+)s; "
                    r"parameters (\w+)", text)
    rss = re.search(r"max RSS per rank \(MiB\): (.*)", text)
    epochs = re.findall(r"epoch (\d+) .*test_acc ([0-9.]+)%", text)
    warns = re.findall(r"COMPCOLL WARN +\S+ (.*)", text)
    r = {"accuracy": float(acc.group(1)), "seconds": float(acc.group(2)),
         "same": acc.group(3) == "identical",
         "rss_mib": max(float(v) for v in rss.group(1).split()),
         "per_epoch": " ".join(a for _, a in epochs),
         "warnings": len(warns),
         # the kinds of warning: numbers left out
         "warning_kinds": sorted({re.sub(r"\d+", "N", w) for w in warns})}
    j = os.path.join(out, name + ".json")
    if os.path.exists(j):
        s = json.load(open(j))
        t = s.get("tensors", [])
        per_rank = len(t) + s.get("tensors_unlisted", 0)
        if t and all("rank" in e for e in t):   # if every rank's are listed
            per_rank = len(t) / max(1, s.get("ranks", 1))
        sent = s.get("bytes_sent") or 0
        r.update(calls=s.get("calls_compressed"),
                 passthrough=s.get("calls_passthrough"),
                 wire=(s.get("bytes_dense", 0) / sent) if sent else None,
                 memories=per_rank, retired=s.get("tensors_retired"),
                 counts=sorted({e.get("count") for e in t}))
    return r
