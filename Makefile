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
test:
	@$(BOOT_ALL)
	@$(VENV)/walkit test
size: bootstrap
	@$(VENV)/walkit size --board $(BOARD)
clean:
	rm -rf build
