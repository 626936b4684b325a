# Thin wrapper: every target bootstraps (idempotent, seconds when done) and calls the walkit CLI.
BOARD ?= qemu-virt-a15
PY ?= python3
VENV := .venv/bin
# The tests run on every board, so `make test` bootstraps them all; the others need host-sim
# (the host tools' native build) and the board asked for.
BOOT = PYTHONPATH=host $(PY) -m walkit.bootstrap --boards host-sim,$(BOARD)
BOOT_ALL = PYTHONPATH=host $(PY) -m walkit.bootstrap --boards all

.PHONY: bootstrap image run demo test size clean
bootstrap:
	@$(BOOT)
image: bootstrap
	@$(VENV)/walkit build --board $(BOARD)
run: bootstrap
	@$(VENV)/walkit run --board $(BOARD)
demo: bootstrap
	@$(VENV)/walkit demo --board $(BOARD)
# Independent tests run in parallel (pytest-xdist, one worker per core; JOBS=1 for one at a
# time); the duration is printed at the end.  PYTEST_ARGS go to pytest (e.g. -k smoke).
JOBS ?= auto
test:
	@$(BOOT_ALL)
	@start=$$(date +%s); $(VENV)/walkit test -n $(JOBS) $(PYTEST_ARGS); rc=$$?; \
	  echo "make test: $$(( $$(date +%s) - start )) s (JOBS=$(JOBS), load average $$(cut -d' ' -f1-3 /proc/loadavg))"; \
	  exit $$rc
size: bootstrap
	@$(VENV)/walkit size --board $(BOARD)
clean:
	rm -rf build
