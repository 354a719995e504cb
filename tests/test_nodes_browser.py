"""The Nodes page in headless Chromium against a real server and a real `firstline node` (on loopback):
enrol from the page (the token is shown once), watch the node connect with its facts, pick it and its
label group in the new-session dialog, revoke it from the page and see the node cut off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, ServerProcess
from nodefleet import server_env

pytestmark = pytest.mark.browser


def test_enrol_see_pick_and_revoke_a_node_from_the_ui(tmp_path, chromium):
    from playwright.sync_api import expect

    env = server_env(tmp_path / "home", f"sqlite:///{tmp_path / 'firstline.db'}", FIRSTLINE_AUTH_TOKEN="")
    server = ServerProcess(env, tmp_path / "server.log").start()
    node = None
    try:
        page = chromium.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        page.click("a.sidebar-link")
        expect(page.locator("#nodes-empty")).to_be_visible()
        page.click("#enroll-open")
        page.fill("#enroll-name", "web-01")
        page.fill("#enroll-labels", "role=web, env=prod")
        page.click("#enroll-submit")
        config = page.locator("#enroll-config")
        expect(config).to_contain_text('token = "fln_')
        (tmp_path / "node.toml").write_text(config.inner_text())
        page.click("#enroll-close")
        node_env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        node = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "node",
                "run",
                "--config",
                str(tmp_path / "node.toml"),
            ],
            cwd=ROOT,
            env=node_env,
            stderr=open(tmp_path / "node.log", "ab"),
        )
        row = page.locator('tr[data-node="web-01"]')
        expect(row.locator(".node-state")).to_have_text("connected", timeout=30_000)
        expect(row).to_contain_text("role=web")
        expect(row).to_contain_text(os.uname().release)  # the node's kernel, from its facts

        page.goto(server.url + "/")
        page.keyboard.press("Control+k")
        options = page.locator("#ns-target option")
        expect(page.locator('#ns-target option[value="node:web-01"]')).to_have_count(1)
        values = options.evaluate_all("els => els.map(e => e.value)")
        assert "node:web-01" in values and "nodes:role=web" in values and "nodes:env=prod" in values
        page.select_option("#ns-target", "nodes:role=web")
        page.click("#ns-create")
        expect(page.locator("#chip-target")).to_have_text("nodes:role=web")

        page.goto(server.url + "/nodes")
        page.on("dialog", lambda d: d.accept())
        page.locator('tr[data-node="web-01"] button').click()
        expect(page.locator('tr[data-node="web-01"] .node-state')).to_have_text("revoked")
        assert node.wait(15) == 3
        assert not errors, errors
    finally:
        if node is not None and node.poll() is None:
            node.kill()
        server.stop()
