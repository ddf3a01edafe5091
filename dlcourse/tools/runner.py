"""The `dlcourse` command (also `python -m dlcourse`): rerun notebooks with papermill, and more.

    dlcourse list                                   the course map, with the modules behind each notebook
    dlcourse readme                                 rewrite the README's generated tables
    dlcourse params 06                              a notebook's parameters: default, allowed, meaning
    dlcourse run --profile smoke                    every notebook, smoke parameters, into build/runs/smoke/
    dlcourse run 06 08 -p epochs 3                  chosen notebooks with overrides
    dlcourse refresh [NOTEBOOK ...]                 re-execute the masters in place (default profile)
    dlcourse student                                build the student release into build/student/
    dlcourse check build/student/00_welcome_and_setup.ipynb   run a notebook, report each exercise
    dlcourse bundle                                 the student bundle (notebooks, package) in build/bundle/
    dlcourse grade SUBMISSIONS                      autograde a class with nbgrader into build/grading/

`run` checks every parameter before any notebook starts; a notebook that fails keeps its partial
output notebook, and the run carries on with the others unless --stop-on-failure is given. It writes
summary.csv and summary.md (notebook, status, seconds against the profile's budget with overruns
flagged, published metrics) and an HTML rendering of each executed notebook, and exits non-zero if any
notebook failed (130 after Ctrl-C, which keeps the finished notebooks' summary).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dlcourse import claims, course, params, report
from dlcourse.tools import codemap, grading, kernel, lint, release

RUNS_IN = re.compile(r"\*\*Runs in\*\* about \d+ s on an? \d+-core CPU")
SMOKE_BUDGET_S = 30  # what a smoke run may take on 2 cores (course.toml's aim is 20 s)


@dataclass
class Result:
    notebook: str
    status: str  # ok | failed | bad parameter | interrupted
    seconds: float
    budget_s: float | None = None  # what the profile allows this notebook (None: no budget, e.g. full)
    metrics: dict = field(default_factory=dict)
    error: str = ""
    output: Path | None = None

    @property
    def over_budget(self) -> bool:
        """Finished, but later than its profile allows."""
        return self.status == "ok" and self.budget_s is not None and self.seconds > self.budget_s


def resolve_parameters(nb: course.Notebook, profile: str, overrides: Sequence[tuple[str, str]]) -> dict:
    """The checked parameter values for one notebook: its profile, then the -p overrides it declares."""
    spec = params.read(nb.path)
    values = dict(nb.profile(profile))
    for name, text in overrides:
        if name in spec:
            values[name] = params.from_text(spec[name], text)
    return params.validate(spec, values)


def _error_of(nb_out) -> str:
    for i, cell in enumerate(nb_out.get("cells", [])):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {i}: {out.get('ename')}: {out.get('evalue', '')}".strip()[:300]
    return ""


def budget_of(nb: course.Notebook, profile: str) -> float | None:
    """The seconds a run of `nb` at `profile` should take on 2 cores: its budget_s, SMOKE_BUDGET_S, or None."""
    return {"default": nb.budget_s, "smoke": SMOKE_BUDGET_S}.get(profile)


def run_one(nb: course.Notebook, values: dict, out_dir: Path, html: bool = True, progress: bool = True,
            timeout: int = kernel.CELL_TIMEOUT_S, budget_s: float | None = None) -> Result:
    """Execute one notebook with papermill into out_dir; never raises for a failing notebook.

    Ctrl-C (KeyboardInterrupt) is the one exception that passes through, after the partial output is saved.
    """
    import nbformat
    import papermill as pm

    out_path = out_dir / nb.path.name
    start = time.perf_counter()
    status, error = "ok", ""
    try:
        kernel.execute_with_parameters(nb.path, out_path, values, course.notebooks_dir(), timeout=timeout,
                                       progress={"desc": nb.id, "leave": False} if progress else False)
    except pm.PapermillExecutionError as exc:
        status, error = "failed", f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"[:300]
    except Exception as exc:  # a cell past its time limit, a kernel that died, a notebook that cannot be read
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:300]
    seconds = time.perf_counter() - start
    metrics = {}
    if out_path.exists():
        executed = nbformat.read(out_path, as_version=4)
        metrics = report.collect(executed)
        error = error or _error_of(executed)
        if html:
            from nbconvert import HTMLExporter

            body, _ = HTMLExporter().from_notebook_node(executed)
            out_path.with_suffix(".html").write_text(body, encoding="utf-8")
    return Result(nb.id, status, seconds, budget_s, metrics, error, out_path if out_path.exists() else None)


def time_text(r: Result) -> str:
    """'12.3 / 30', with 'over budget' when a run took longer than its profile allows."""
    if r.budget_s is None:
        return f"{r.seconds:.1f}"
    over = " **over budget**" if r.over_budget else ""
    return f"{r.seconds:.1f} / {r.budget_s:g}{over}"


def write_summary(results: Sequence[Result], out_dir: Path, profile: str) -> str:
    """Write summary.csv and summary.md into out_dir; returns the Markdown table.

    Each notebook's seconds stand against its budget at this profile; a run over budget is flagged.
    """
    def metrics_text(r: Result) -> str:
        return ", ".join(f"{k}={v}" for k, v in r.metrics.items())

    with open(out_dir / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["notebook", "profile", "status", "seconds", "budget_s", "over_budget", "metrics", "error"])
        for r in results:
            w.writerow([r.notebook, profile, r.status, f"{r.seconds:.1f}",
                        "" if r.budget_s is None else f"{r.budget_s:g}", r.over_budget, json.dumps(r.metrics),
                        r.error])
    lines = ["| notebook | status | seconds / budget | metrics |", "|---|---|---:|---|"]
    for r in results:
        detail = metrics_text(r) if r.status == "ok" else r.error.replace("|", "/")
        lines.append(f"| {r.notebook} | {r.status} | {time_text(r)} | {detail} |")
    over = [r.notebook for r in results if r.over_budget]
    if over:
        lines.append(f"\nOver budget at the {profile} profile: {', '.join(over)}.")
    table = "\n".join(lines)
    (out_dir / "summary.md").write_text(f"# dlcourse run, profile {profile}\n\n{table}\n")
    return table


def run(names: Sequence[str], profile: str = "default", overrides: Sequence[tuple[str, str]] = (),
        out_dir: Path | None = None, stop_on_failure: bool = False, html: bool = True,
        progress: bool = True) -> list[Result]:
    """Run notebooks (all when `names` is empty); see the module docstring."""
    from tqdm.auto import tqdm

    chosen = [course.find(n) for n in names] if names else course.notebooks()
    if profile not in course.PROFILES:
        raise ValueError(f"profile must be one of {' | '.join(course.PROFILES)}, got {profile!r}")
    specs = {nb.id: params.read(nb.path) for nb in chosen}
    for name, _ in overrides:
        if not any(name in spec for spec in specs.values()):
            known = sorted({p for spec in specs.values() for p in spec})
            raise ValueError(f"unknown parameter {name!r} for {', '.join(specs)}; known: {', '.join(known)}")
    out_dir = out_dir or course.root() / "build" / "runs" / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    planned: list[tuple[course.Notebook, dict | None, str]] = []
    for nb in chosen:  # check every parameter before any heavy work
        try:
            planned.append((nb, resolve_parameters(nb, profile, overrides), ""))
        except ValueError as exc:
            planned.append((nb, None, str(exc)))
    results: list[Result] = []
    bar = tqdm(planned, desc=f"dlcourse run ({profile})", unit="notebook", disable=not progress)
    started = time.perf_counter()
    try:
        for nb, values, problem in bar:
            bar.set_postfix_str(nb.id)
            started = time.perf_counter()
            if values is None:
                results.append(Result(nb.id, "bad parameter", 0.0, error=problem))
            else:
                results.append(run_one(nb, values, out_dir, html=html, progress=progress,
                                       budget_s=budget_of(nb, profile)))
            if stop_on_failure and results[-1].status != "ok":
                break
    except KeyboardInterrupt:  # Ctrl-C: keep what finished, say which one was stopped, skip the rest
        current = planned[len(results)][0]
        results.append(Result(current.id, "interrupted", time.perf_counter() - started,
                              budget_of(current, profile), error="stopped by Ctrl-C"))
    finally:
        bar.close()
    write_summary(results, out_dir, profile)
    return results


def refresh(names: Sequence[str] = (), timeout: int = kernel.CELL_TIMEOUT_S) -> list[Result]:
    """Re-execute the masters in place at the default profile: the only way committed outputs are made.

    A notebook is written back only if it ran without errors (a false claim or a missed headline bound
    is an error) and its outputs pass the lint's output rules; otherwise the failed run goes to
    build/refresh-failed/ and the master stays as it was. The measured time is stored in the notebook's
    metadata and written into its title ("**Runs in** about N s on a 2-core CPU").
    """
    import nbformat

    chosen = [course.find(n) for n in names] if names else course.notebooks()
    results = []
    for nb in chosen:
        master = nbformat.read(nb.path, as_version=4)
        start = time.perf_counter()
        error = ""
        os.environ[claims.REFRESH_ENV] = "1"  # the kernel inherits it: speed claims are enforced here
        try:
            kernel.execute(master, course.notebooks_dir(), timeout=timeout)
        except Exception as exc:  # CellExecutionError, DeadKernelError, timeouts
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        finally:
            os.environ.pop(claims.REFRESH_ENV, None)
        seconds = time.perf_counter() - start
        problems = lint.output_problems(master, nb.path.name)
        title = master.cells[0].source if master.cells else ""
        if not RUNS_IN.search(title):
            problems.append(f"{nb.path.name} cell 0: the title needs '**Runs in** about N s on a 2-core CPU' "
                            "for refresh to write the measured time into")
        else:
            master.cells[0].source = RUNS_IN.sub(
                f"**Runs in** about {lint.runs_in_seconds(seconds)} s on a {os.cpu_count()}-core CPU", title, count=1)
            master.metadata["dlcourse"] = {"refresh_seconds": round(seconds, 1), "cpu_cores": os.cpu_count()}
        if error or problems:
            failed = course.root() / "build" / "refresh-failed" / nb.path.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(master, failed)
            results.append(Result(nb.id, "failed", seconds, nb.budget_s, error=error or problems[0], output=failed))
        else:
            nbformat.write(master, nb.path)
            results.append(Result(nb.id, "ok", seconds, nb.budget_s, report.collect(master), output=nb.path))
        print(f"{nb.id}: {results[-1].status} in {seconds:.1f} s {results[-1].error}".rstrip(), flush=True)
    return results


def describe_parameters(name: str) -> str:
    """A notebook's parameters as a table: name, default, allowed values, meaning, smoke/full values."""
    nb = course.find(name)
    spec = params.read(nb.path)
    rows = [("parameter", "default", "smoke", "full", "allowed", "meaning")]
    for p in spec.values():
        smoke = repr(nb.smoke[p.name]) if p.name in nb.smoke else ""
        full = repr(nb.full[p.name]) if p.name in nb.full else ""
        rows.append((p.name, repr(p.default), smoke, full, p.allowed, p.help))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths, strict=False)) + "  " + r[5]
             for r in rows]
    return f"{nb.id}: {nb.title}\n" + "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlcourse", description="Run and manage the dlcourse notebooks.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the course map: each notebook and the package modules it uses")
    sub.add_parser("readme", help="rewrite the README's tables from notebooks/course.toml and the package")
    pp = sub.add_parser("params", help="a notebook's parameters, defaults, allowed values and meaning")
    pp.add_argument("notebook")
    pr = sub.add_parser("run", help="execute notebooks with papermill into build/runs/<profile>/")
    pr.add_argument("notebooks", nargs="*", help="numbers or ids (default: all)")
    pr.add_argument("--profile", default="default", choices=course.PROFILES)
    pr.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    pr.add_argument("--out", type=Path, help="output folder (default build/runs/<profile>)")
    pr.add_argument("--stop-on-failure", action="store_true")
    pr.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    pf = sub.add_parser("refresh", help="re-execute the masters in place at the default profile")
    pf.add_argument("notebooks", nargs="*")
    pc = sub.add_parser("check", help="run a (student) notebook at a profile and report each exercise")
    pc.add_argument("path", type=Path)
    pc.add_argument("--profile", default="smoke", choices=course.PROFILES)
    pc.add_argument("--notebook", help="which notebook of the course the file is (number or id), if its name "
                    "and contents do not say")
    ps = sub.add_parser("student", help="build the student release (nbgrader) into build/student/")
    ps.add_argument("notebooks", nargs="*")
    ps.add_argument("--out", type=Path)
    pb = sub.add_parser("bundle", help="the student bundle (student notebooks, package, README) into build/bundle/")
    pb.add_argument("--out", type=Path)
    pw = sub.add_parser("site", help="the course website from the committed notebooks into build/site/html/")
    pw.add_argument("--out", type=Path, help="output folder (default build/site); the pages go to OUT/html/")
    pg = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/*.ipynb with nbgrader into build/grading/")
    pg.add_argument("submissions", type=Path)
    pg.add_argument("--notebooks", nargs="*", help="numbers or ids (default: every notebook handed in)")
    pg.add_argument("--profile", default="default", choices=("default", "smoke"))
    pg.add_argument("--out", type=Path, help="the nbgrader course folder to grade in (default build/grading)")
    pg.add_argument("--no-feedback", action="store_true", help="skip nbgrader's HTML feedback")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print(codemap.course_map())
        elif args.command == "readme":
            changed = codemap.write_readme()
            print("README.md: generated tables " + ("rewritten" if changed else "already current"))
        elif args.command == "params":
            print(describe_parameters(args.notebook))
        elif args.command == "run":
            results = run(args.notebooks, args.profile, [tuple(x) for x in args.parameter], args.out,
                          args.stop_on_failure, html=not args.no_html)
            out = args.out or course.root() / "build" / "runs" / args.profile
            print(write_summary(results, out, args.profile))
            print(f"\nsummary: {out / 'summary.md'}")
            if any(r.status == "interrupted" for r in results):
                return 130  # the shell's code for Ctrl-C
            return 0 if all(r.status == "ok" for r in results) else 1
        elif args.command == "refresh":
            return 0 if all(r.status == "ok" for r in refresh(args.notebooks)) else 1
        elif args.command == "check":
            results = release.check_notebook(args.path, args.profile, notebook=args.notebook)
            for name, passed, message in results:
                print(f"{'PASS' if passed else 'FAIL'}  {name}: {message}")
            print(f"{sum(p for _, p, _ in results)} of {len(results)} checks passed")
            return 0 if all(p for _, p, _ in results) else 1
        elif args.command == "student":
            for path in release.build_student_release(args.out, args.notebooks):
                print(path)
        elif args.command == "bundle":
            folder = release.build_student_bundle(args.out)
            print(f"{folder}\n{folder}.zip: hand this out (it holds no solution, no hidden test)")
        elif args.command == "site":
            from dlcourse.tools import site

            html = site.build(args.out)
            print(f"{html / 'index.html'}: the site's home page; serve the folder to search it: "
                  f"`python -m http.server -d {html}`")
        elif args.command == "grade":
            out = args.out or course.root() / "build" / "grading"
            grades = grading.grade(args.submissions, out, args.notebooks, args.profile, not args.no_feedback)
            print(grading.write_table(grades, out / "scores.md"))
            for nb_id, seconds in sorted({(g.notebook, g.seconds) for g in grades}):
                students = sum(g.notebook == nb_id for g in grades)
                print(f"{nb_id}: {seconds:.0f} s for {students} student(s)")
            if waiting := sum(g.by_hand for g in grades):
                print(f"{waiting:g} points wait for hand grading (the 'why?' answers): open `jupyter lab` in {out}, "
                      "grade them in nbgrader's Formgrader (menu Nbgrader), then run `nbgrader export` there "
                      "(a new `dlcourse grade` starts that folder afresh)")
            print(f"\nscores: {out / 'scores.md'}, {out / 'scores.csv'}; nbgrader's export: {out / 'grades.csv'}; "
                  f"feedback: {out / 'feedback'}")
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"dlcourse: {exc}", file=sys.stderr)
        return 2
    return 0
