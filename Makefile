# The two set-up commands of the README. Both install what they need first.
.PHONY: demo test install lint

demo:          ## install, process the bundled demo recording, open the review screen
	bash scripts/install.sh
	.venv/bin/msw-audio demo

test:          ## install (with Chromium) and run the whole test suite
	bash scripts/test.sh

install:
	bash scripts/install.sh

lint:
	.venv/bin/ruff check .
