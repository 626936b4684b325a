# Thin wrapper: every target bootstraps (idempotent, seconds when done) and calls the walkit CLI.
BOARD ?= qemu-virt-a15
PY ?= python3
VENV := .venv/bin
BOOT = PYTHONPATH=host $(PY) -m walkit.bootstrap --boards host-sim,$(BOARD)

.PHONY: bootstrap image run demo test size clean
bootstrap:
	@$(BOOT)
image: bootstrap
	@$(VENV)/walkit build --board $(BOARD)
run: bootstrap
	@$(VENV)/walkit run --board $(BOARD)
demo: bootstrap
	@$(VENV)/walkit demo --board $(BOARD)
test: bootstrap
	@$(VENV)/walkit test
size: bootstrap
	@$(VENV)/walkit size --board $(BOARD)
clean:
	rm -rf build
