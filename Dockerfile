# The deploy in an image: pyinfra, the audit's pytest-testinfra and this project, so that a
# fleet can be set up from any machine with Docker. The fleet file and the ssh keys come
# in as mounts; nothing secret is baked in.
#
#   docker build -t coord-deploy .
#   docker run --rm -it -v "$PWD/fleet.toml:/fleet/fleet.toml:ro" -v "$HOME/.ssh:/root/.ssh" \
#       coord-deploy -y inventory.py deploy.py
#   docker run --rm -it -v "$PWD/fleet.toml:/fleet/fleet.toml:ro" -v "$HOME/.ssh:/root/.ssh" \
#       --entrypoint pytest coord-deploy audit/
FROM python:3.11-slim

# ssh for the audit, which reaches the hosts with OpenSSH (pyinfra has its own client).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client \
    && rm -rf /var/lib/apt/lists/*

# The same versions as pyproject.toml's [test] extra.
RUN pip install --no-cache-dir pyinfra==3.10.0 pytest==9.2.0 pytest-testinfra==10.2.2

WORKDIR /opt/parallelism
COPY inventory.py deploy.py fleet.example.toml ./
COPY group_data/ group_data/
COPY tasks/ tasks/
COPY templates/ templates/
COPY audit/ audit/
COPY runtime/ runtime/
COPY hooks/ hooks/

ENV COORD_FLEET=/fleet/fleet.toml
ENTRYPOINT ["pyinfra"]
CMD ["--help"]
