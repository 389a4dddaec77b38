#!/bin/sh
# The core's layers (libcompcoll/README.md): a file includes headers of its
# own folder and of the folders below it only, and no headers include
# each other in a cycle; the folders outside the core keep their place
# (ucx_transport/ a transport, gpu_kernels/ a kernel module, interpose/
# and tools/ on top).  One TAP line per folder, one for the cycles.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
top="${TESTS_SRCDIR:-.}/.."
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
exec python3 - "$top" <<'PY'
import os, re, sys

top = sys.argv[1]
layers = [("libcompcoll/codec", 0), ("libcompcoll/base", 1),
          ("libcompcoll/kernels", 2), ("libcompcoll/transport", 3),
          ("libcompcoll/core", 4), ("libcompcoll/methods", 5),
          ("gpu_kernels", 2), ("ucx_transport", 3),
          ("interpose", 6), ("tools", 6)]
core = {d for d, _ in layers if d.startswith("libcompcoll/")}
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

def sources(d):
    path = os.path.join(top, d)
    return sorted(f for f in os.listdir(path)
                  if f.endswith((".c", ".h", ".cu")))

# where each header lives
home = {}
for d, layer in layers:
    for f in sources(d):
        if f.endswith(".h"):
            home.setdefault(f, (d, layer))

n = 0
edges = {}
for d, layer in layers:
    bad = []
    for f in sources(d):
        text = open(os.path.join(top, d, f), encoding="utf-8").read()
        for h in inc.findall(text):
            if h == "config.h":            # autoconf's
                continue
            if h not in home:
                bad.append("%s includes %s, which is no header of ours" % (f, h))
                continue
            hd, hl = home[h]
            if f.endswith(".h"):
                edges.setdefault(f, set()).add(h)
            if hd == d:
                continue
            if hd not in core:
                bad.append("%s includes %s of %s/, not its own nor the core's"
                           % (f, h, hd))
            elif hl > layer:
                bad.append("%s (layer %d) includes %s of %s/ (layer %d), above it"
                           % (f, layer, h, hd, hl))
    n += 1
    print(("ok" if not bad else "not ok") +
          " %d - %s/ includes only its own and lower layers' headers" % (n, d))
    for b in bad:
        print("#   " + b)

# cycles among headers
state, cycle = {}, []
def visit(h, path):
    state[h] = 1
    for x in sorted(edges.get(h, ())):
        if state.get(x) == 1 and not cycle:
            cycle.extend(path[path.index(x):] + [x] if x in path else [h, x])
        elif x not in state:
            visit(x, path + [x])
    state[h] = 2
for h in sorted(edges):
    if h not in state:
        visit(h, [h])
n += 1
print(("ok" if not cycle else "not ok") + " %d - no headers include each other in a cycle" % n)
if cycle:
    print("#   " + " -> ".join(cycle))
print("1..%d" % n)
PY
