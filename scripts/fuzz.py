#!/usr/bin/env python3
"""Seeded mutational fuzzing of the sqa tools' input readers and passes.

Three targets, each a mutator over a corpus and a command to run:

  opt     .mlir files (the lit tests' inputs, split at '// -----'), mutated
          token by token, through sqa-opt with one of the dialect's passes or
          pipelines; whatever sqa-opt accepts must parse and verify again.
  npy     .npy inputs of sqa-run (header fields, shape, dtype, length, bytes).
  config  sqa-compile --config specifications.

A run is a finding when the tool crashes or aborts (a signal, "LLVM ERROR",
an assertion, a stack dump), hangs past --timeout, reports an error without a
source location where it had one to give, or (opt) prints IR that does not
parse back. Every finding is written to --crashes DIR as the input and the
command that reproduces it, and is meant to become a regression test.

The mutations are a function of --seed alone, so --iterations N with a fixed
seed is the same run everywhere (CI runs such a slice); --seconds bounds a
developer's longer run. Needs only the Python standard library.

  scripts/fuzz.py --build build --seconds 600 --seed 7 --crashes /tmp/fuzz
"""

import argparse
import os
import pathlib
import random
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Signs of a crash in a tool's output: an abort, an assertion or a signal.
CRASH_MARKERS = ("LLVM ERROR", "Assertion", "Stack dump", "PLEASE submit a bug report",
                 "UNREACHABLE", "Segmentation fault", "terminate called")

# What the tools print when MLIR's own parser crashes and the crash is caught
# (sqa/Tools/ParseGuard.h): not a finding against the tools, but a new kind of
# input for the list of upstream crashes in docs/testing.md, so it is recorded as a note.
GUARDED_UPSTREAM_CRASH = "MLIR's parser crashed on this input"

INTERESTING_INTS = ["0", "1", "-1", "2", "3", "7", "16", "17", "64", "65535", "65536",
                    "2147483647", "2147483648", "4294967296", "1099511627776",
                    "9223372036854775807", "-9223372036854775808", "18446744073709551616"]
INTERESTING_FLOATS = ["0.0", "-0.0", "1.0e-45", "1.0e+38", "3.0e+38", "0x7F800000",
                      "0x7FC00000", "0xFF800000", "1.0e+39", "-1.0"]
KEYWORDS = ["f16", "bf16", "f32", "f64", "i1", "i8", "i32", "index", "f8E4M3FN",
            "tensor", "memref", "vector", "none", "causal_top_left",
            "causal_bottom_right", "window", "scale", "mask", "ins", "outs",
            "diagonal_offset", "sqa.attention", "sqa.attention_grad", "?", "0", "x"]

OPT_PIPELINES = [
    [],
    ["--sqa-tile-and-fuse"],
    ["--sqa-tile-and-fuse=q-block=16 kv-block=32"],
    ["--sqa-raise-attention"],
    ["--convert-sqa-to-linalg"],
    ["--convert-sqa-to-scf"],
    ["--one-shot-bufferize=bufferize-function-boundaries", "--convert-sqa-to-nvgpu"],
    ["--sqa-cpu-pipeline"],
    ["--sqa-gpu-pipeline=chip=sm_80"],
]

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|0x[0-9A-Fa-f]+|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?'
                   r'|[A-Za-z_][\w.$]*|%[\w.$#]+|@[\w.$]+|\^\w+|#\w+|\s+|.', re.S)


class Finding(Exception):
    """A run the tools must not produce, with what reproduces it."""

    def __init__(self, kind, detail, fatal=True):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.fatal = fatal


def run(command, timeout, stdin=None):
    """Runs `command`; returns (rc, output) or raises a crash/hang Finding."""
    try:
        result = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Finding("hang", f"no answer within {timeout} s")
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    if result.returncode < 0:
        raise Finding("crash", f"signal {-result.returncode}\n{output[:3000]}")
    for marker in CRASH_MARKERS:
        if marker in output:
            raise Finding("crash", f"'{marker}' (exit {result.returncode})\n{output[:3000]}")
    if GUARDED_UPSTREAM_CRASH in output:
        raise Finding("upstream parser crash", output[:3000], fatal=False)
    return result.returncode, output


def require_located(output, source_name):
    """An error about an input file must say where in it."""
    errors = [line for line in output.splitlines() if "error:" in line]
    if errors and not any(source_name in line and re.search(r":\d+:\d+: error", line)
                           for line in errors):
        raise Finding("unlocated", "\n".join(errors[:5]))


# --- opt ----------------------------------------------------------------------


def opt_corpus():
    """The lit tests' .mlir inputs, one entry per '// -----' piece."""
    pieces = []
    for path in sorted((ROOT / "test").rglob("*.mlir")):
        if "upstream-crashes" in path.parts:  # already known to crash MLIR
            continue
        text = path.read_text(errors="replace")
        for piece in re.split(r"^// -----\s*$", text, flags=re.M):
            lines = [l for l in piece.splitlines()
                     if not re.match(r"\s*//\s*(RUN|CHECK|expected-)", l)]
            if any("sqa." in l or "linalg." in l for l in lines):
                pieces.append("\n".join(lines) + "\n")
    return pieces


def mutate_mlir(rng, text, corpus):
    tokens = TOKEN.findall(text)
    # Mostly values, names and shapes (which reach the verifiers and passes),
    # sometimes structure (which reaches the parser).
    weights = [30, 10, 15, 7, 7, 7, 7, 15]
    for _ in range(rng.choice([1, 1, 2, 3])):
        if not tokens:
            break
        choice = rng.choices(range(8), weights)[0]
        i = rng.randrange(len(tokens))
        if choice == 0:  # an integer at an edge
            ints = [j for j, t in enumerate(tokens) if re.fullmatch(r"-?\d+", t)]
            if ints:
                tokens[rng.choice(ints)] = rng.choice(INTERESTING_INTS)
        elif choice == 1:  # a float at an edge
            floats = [j for j, t in enumerate(tokens) if re.fullmatch(r"-?\d+\.\d+.*|0x[0-9A-F]{8}", t)]
            if floats:
                tokens[rng.choice(floats)] = rng.choice(INTERESTING_FLOATS)
        elif choice == 2:  # a keyword for a name
            words = [j for j, t in enumerate(tokens) if re.fullmatch(r"[A-Za-z_][\w.]*", t)]
            if words:
                tokens[rng.choice(words)] = rng.choice(KEYWORDS)
        elif choice == 3:
            del tokens[i]
        elif choice == 4:
            tokens.insert(i, tokens[rng.randrange(len(tokens))])
        elif choice == 5:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif choice == 6:  # a line from another input
            other = rng.choice(corpus).splitlines() or [""]
            tokens.insert(i, "\n" + rng.choice(other) + "\n")
        else:  # a shape dimension made dynamic or zero
            dims = [j for j, t in enumerate(tokens) if re.fullmatch(r"\d+x\w*|x\d+", t) or
                    re.fullmatch(r"\d+", t)]
            if dims:
                tokens[rng.choice(dims)] = rng.choice(["?", "0", "1"])
    return "".join(tokens)


def prepare_opt(rng, tools, work, corpus):
    source = work / "input.mlir"
    source.write_text(mutate_mlir(rng, rng.choice(corpus), corpus))
    command = [tools["sqa-opt"], str(source)] + rng.choice(OPT_PIPELINES)

    def check(rc, output, timeout):
        require_located(output, str(source))
        if rc == 0:
            # What sqa-opt printed must parse and verify again.
            rc2, output2 = run([tools["sqa-opt"], "-"], timeout, stdin=output.encode())
            if rc2 != 0:
                raise Finding("unverifiable output", output2[:3000])

    return command, [source], check


# --- npy ----------------------------------------------------------------------


def npy_bytes(shape, descr="<f4", fortran=False, version=1, data=None):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, fortran, "".join(f"{d}, " for d in shape) if len(shape) != 1 else f"{shape[0]},")
    size = 1
    for d in shape:
        size *= d
    width = 10 if version == 1 else 12
    header += " " * ((-(len(header) + 1 + width)) % 64) + "\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    if data is None:
        data = struct.pack(f"<{size}f", *[(k % 7) * 0.25 - 0.75 for k in range(size)])
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode("latin1") + data


def mutate_npy(rng, shape):
    choice = rng.randrange(7)
    if choice == 0:  # a dimension at an edge
        shape = list(shape)
        shape[rng.randrange(len(shape))] = int(rng.choice(INTERESTING_INTS).lstrip("-"))
        return npy_bytes(shape, data=b"\0" * 64)
    if choice == 1:  # another dtype or byte order
        return npy_bytes(shape, descr=rng.choice(["<f2", ">f4", "<f8", "|u1", "<i4", "<c8", "O", "<V4", "", "<f4'"]))
    if choice == 2:
        return npy_bytes(shape, fortran=True)
    if choice == 3:  # a header field rewritten as text
        blob = npy_bytes(shape)
        end = blob.index(b"\n") + 1
        header = bytearray(blob[10:end])
        for _ in range(rng.randint(1, 3)):
            header[rng.randrange(len(header))] = rng.choice(b"(),:'{} 0123456789-xL\n\0")
        return blob[:10] + bytes(header) + blob[end:]
    if choice == 4:  # the length field or the version
        blob = bytearray(npy_bytes(shape, version=rng.choice([1, 2])))
        blob[rng.choice([6, 7, 8, 9])] = rng.randrange(256)
        return bytes(blob)
    if choice == 5:  # truncated or extended
        blob = npy_bytes(shape)
        return blob[:rng.randrange(len(blob))] if rng.random() < 0.7 else blob + b"\0" * rng.randrange(1, 64)
    shape = [rng.choice([0, 1, 2, 3]) if rng.random() < 0.3 else d for d in shape]
    shape = shape[:rng.randint(0, 5)] if rng.random() < 0.3 else shape
    return npy_bytes(shape)


def prepare_npy(rng, tools, work, corpus):
    module = ROOT / "test/tools/sqa-run/Inputs/attention.mlir"
    shapes = [(1, 4, 3, 16), (1, 2, 5, 16), (1, 2, 5, 16), (1, 4, 3, 16)]
    files = []
    target = rng.randrange(4)
    for index, shape in enumerate(shapes):
        path = work / f"arg{index}.npy"
        path.write_bytes(mutate_npy(rng, shape) if index == target else npy_bytes(shape))
        files.append(path)
    command = [tools["sqa-run"], str(module), "-e", "attention",
               "--lowering=" + rng.choice(["reference", "rowwise", "tiled"])]
    for path in files:
        command += ["-i", str(path)]
    command += ["-o", str(work / "out.npy")]
    return command, files, None


# --- config -------------------------------------------------------------------

CONFIG_FIELDS = ["hq", "hkv", "d", "dv", "dtype", "out", "mask", "window", "scale", "lse"]
CONFIG_VALUES = INTERESTING_INTS + INTERESTING_FLOATS + [
    "f16", "bf16", "f32", "f64", "causal_top_left", "causal_bottom_right", "none", "",
    "3:4", "-1:-1", "9223372036854775807:0", "1:", ":", "nan", "inf", "1e39"]


def mutate_config(rng):
    fields = {"hq": "4", "hkv": "2", "d": "16", "dtype": "f16"}
    if rng.random() < 0.4:  # a well-formed specification with legal values
        fields.update({key: rng.choice(values) for key, values in (
            ("hq", ["1", "2", "4", "8", "16"]), ("hkv", ["1", "2", "4", "8"]),
            ("d", ["16", "32", "64", "128"]), ("dtype", ["f16", "bf16", "f32"]),
            ("mask", ["none", "causal_top_left", "causal_bottom_right"]),
            ("window", ["-1:-1", "3:0", "0:5", "9223372036854775807:0"]),
            ("scale", ["0.125", "1.0e+30", "3.0e+38"])) if rng.random() < 0.5})
        if rng.random() < 0.3:
            fields["lse"] = ""
        return "k:" + ",".join(k if k == "lse" else f"{k}={v}" for k, v in fields.items())
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(CONFIG_FIELDS + ["", "x", "hq"])
        fields[key] = rng.choice(CONFIG_VALUES)
    body = ",".join(k if k == "lse" or v == "" else f"{k}={v}" for k, v in fields.items())
    name = rng.choice(["k", "attn", "int", "_x", "k-1", "", "0k", "main", "k" * 300])
    spec = f"{name}:{body}" if rng.random() < 0.8 else body
    if rng.random() < 0.2:
        spec = spec.replace(rng.choice([",", "=", ":"]), rng.choice(["", ",,", "==", "::"]), 1)
    return spec


def prepare_config(rng, tools, work, corpus):
    out = work / "lib"
    shutil.rmtree(out, ignore_errors=True)
    command = [tools["sqa-compile"], "--emit", "library", "--ptxas", "none",
               "--config", mutate_config(rng), "-o", str(out)]
    return command, [], None


# Each target writes its inputs and returns (command, inputs, check): check,
# when not None, judges the exit status and output of a run that did not
# crash.
TARGETS = {"opt": prepare_opt, "npy": prepare_npy, "config": prepare_config}


# --- driver -------------------------------------------------------------------


def record(crashes, number, finding, command, inputs):
    """Copies a finding's inputs into its own directory, with the command
    that reproduces it from there and what was found."""
    case = crashes / f"{number:04d}-{finding.kind.replace(' ', '-')}"
    case.mkdir(parents=True, exist_ok=True)
    moved = {str(path): str(case / path.name) for path in inputs}
    for path in inputs:
        shutil.copy(path, case / path.name)
    (case / "command").write_text(" ".join(shlex.quote(moved.get(c, c)) for c in command) + "\n")
    (case / "finding").write_text(f"{finding.kind}\n{finding.detail}\n")
    return case


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=str(ROOT / "build"), help="the build directory (bin/ holds the tools)")
    parser.add_argument("--targets", default="opt,npy,config", help="comma-separated: opt, npy, config")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=0, help="stop after N runs of each target (0: no limit)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds one tool run may take")
    parser.add_argument("--crashes", default=None, help="directory for findings (default: a temporary one)")
    args = parser.parse_args(argv)

    targets = [t for t in args.targets.split(",") if t]
    for target in targets:
        if target not in TARGETS:
            parser.error(f"unknown target '{target}' (opt, npy, config)")
    if args.iterations <= 0 and args.seconds <= 0:
        parser.error("give --iterations or --seconds (or both)")
    tools = {name: str(pathlib.Path(args.build) / "bin" / name) for name in ("sqa-opt", "sqa-run", "sqa-compile")}
    for name, path in tools.items():
        if not os.access(path, os.X_OK):
            parser.error(f"no {name} at {path}: build first, or give --build")

    crashes = pathlib.Path(args.crashes or tempfile.mkdtemp(prefix="sqa-fuzz-"))
    corpus = opt_corpus()
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
    counts = {t: 0 for t in targets}
    findings = notes = 0
    with tempfile.TemporaryDirectory(prefix="sqa-fuzz-work-") as scratch:
        work = pathlib.Path(scratch)
        while True:
            active = [t for t in targets if args.iterations <= 0 or counts[t] < args.iterations]
            if not active or (deadline and time.monotonic() > deadline):
                break
            for target in active:
                # One generator per run, from the seed, the target and the run
                # number: a finding reproduces without replaying the others.
                rng = random.Random(f"{args.seed}/{target}/{counts[target]}")
                counts[target] += 1
                command, inputs, check = TARGETS[target](rng, tools, work, corpus)
                try:
                    rc, output = run(command, args.timeout)
                    if check:
                        check(rc, output, args.timeout)
                except Finding as finding:
                    findings += finding.fatal
                    notes += not finding.fatal
                    case = record(crashes, findings + notes, finding, command, inputs)
                    print(f"{'FINDING' if finding.fatal else 'NOTE'} {finding.kind} "
                          f"({target}, seed {args.seed}, run {counts[target] - 1}): {case}", flush=True)
    summary = ", ".join(f"{counts[t]} {t}" for t in targets)
    print(f"fuzz: seed {args.seed}: {summary} runs, {findings} findings, {notes} notes" +
          (f" in {crashes}" if findings + notes else ""))
    if not args.crashes and not findings + notes:
        shutil.rmtree(crashes, ignore_errors=True)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
