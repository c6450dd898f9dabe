"""docker-py (the `docker` package) against `hutch system service`.

Run by tests/tests/docker_api.rs with DOCKER_HOST set and the name of an
image pushed to a local registry as argv[1]; every check is an assert.
"""
import io
import sys

import docker

pushed = sys.argv[1]
client = docker.from_env()
assert client.ping()
assert client.version()["Os"] == "linux"

# containers.run: create, start, wait, logs, remove.
out = client.containers.run(
    "busybox", ["sh", "-c", "echo hello; echo oops >&2"], remove=True, stderr=True
)
# Two pipes: their lines' order between them is not kept (nor by docker).
assert sorted(out.splitlines()) == [b"hello", b"oops"], out
try:
    client.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    raise AssertionError("a failing command raises ContainerError")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

# A detached container: exec_run, logs, kill, wait, remove.
box = client.containers.run(
    "busybox", ["sh", "-c", "echo up; sleep 600"], detach=True, name="py"
)
assert box.name == "py"
code, output = box.exec_run(["sh", "-c", "echo $((2+3))"])
assert (code, output) == (0, b"5\n"), (code, output)
code, output = box.exec_run(["sh", "-c", "exit 4"])
assert code == 4, code
box.reload()
assert box.status == "running", box.status
assert [c.name for c in client.containers.list()] == ["py"]
# commit and diff: the container's changes become an image.
assert box.diff() == [], box.diff()
box.exec_run(["sh", "-c", "echo py > /py"])
assert box.diff() == [{"Path": "/py", "Kind": 1}], box.diff()
committed = box.commit(repository="pycommit", tag="1", message="from py")
assert "pycommit:1" in committed.tags, committed.tags
steps = committed.history()
assert steps[0]["Comment"] == "from py" and steps[0]["Id"] == committed.id, steps
out = client.containers.run("pycommit:1", ["cat", "/py"], remove=True)
assert out == b"py\n", out
client.images.remove("pycommit:1")
# images.build: a Dockerfile alone, through the classic builder.
built, logs = client.images.build(
    fileobj=io.BytesIO(b"FROM busybox\nRUN echo built > /b\nCMD [\"cat\", \"/b\"]\n"),
    tag="pybuilt:1",
)
assert "pybuilt:1" in built.tags, built.tags
assert any("Step 2/3 : RUN echo built > /b" in l.get("stream", "") for l in logs), logs
assert client.containers.run("pybuilt:1", remove=True) == b"built\n"
client.images.remove("pybuilt:1")
box.kill()
assert box.wait()["StatusCode"] == 137
assert box.logs() == b"up\n", box.logs()
box.remove()
assert client.containers.list(all=True) == []
try:
    client.containers.get("py")
    raise AssertionError("a removed container is not found")
except docker.errors.NotFound:
    pass

# Images: pull (its progress lines, then the model), list, remove.
repository, tag = pushed.rsplit(":", 1)
log = list(client.api.pull(repository, tag, stream=True, decode=True))
assert not [line for line in log if "error" in line], log
assert log[-1]["status"].startswith("Status: "), log

image = client.images.pull(pushed)
assert pushed in image.tags, image.tags
tags = sorted(t for i in client.images.list() for t in i.tags)
assert tags == sorted(["busybox:latest", pushed]), tags
client.images.remove(pushed)
assert [t for i in client.images.list() for t in i.tags] == ["busybox:latest"]
try:
    client.images.get(pushed)
    raise AssertionError("a removed image is not found")
except docker.errors.ImageNotFound:
    pass
print("docker-py ok")
