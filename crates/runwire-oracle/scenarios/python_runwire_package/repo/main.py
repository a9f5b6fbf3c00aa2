import os

import runwire

# Under runwire the runner answers (and tracks) the env; outside it the package is a no-op
# and the tool reads its own environment, as vite's client does.
active = runwire.active() if callable(runwire.active) else runwire.active
stage = runwire.get_env("STAGE") if active else os.environ.get("STAGE")
if active:
    flags = runwire.get_envs(prefix="APP_")
else:
    flags = {k: v for k, v in os.environ.items() if k.startswith("APP_")}
with open("src/in.txt") as f:
    text = f.read()
os.makedirs("out", exist_ok=True)
with open("out/r.txt", "w") as f:
    f.write(f"stage={stage} flags={sorted(flags.items())} text={text}")
print("python done")
