"""swarmenv.py - imported first by the swarm suites: brings up tests/swarm.sh's
one-node swarm and points DOCKER_HOST (ttdeploy, docker and harness.api,
which reads it when imported) at its daemon.  SWARM_HOST is that
DOCKER_HOST, NS_IP the address where its published ports answer."""
import os
import subprocess

_SWARM_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "swarm.sh")
subprocess.run([_SWARM_SH, "up"], check=True, stdout=subprocess.DEVNULL)
SWARM_HOST = subprocess.run([_SWARM_SH, "env"], check=True, capture_output=True,
                            text=True).stdout.strip().split("=", 1)[1]
NS_IP = subprocess.run([_SWARM_SH, "ip"], check=True, capture_output=True,
                       text=True).stdout.strip()
os.environ["DOCKER_HOST"] = SWARM_HOST
