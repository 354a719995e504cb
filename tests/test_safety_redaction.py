"""Redaction: a corpus of realistic logs with real-looking secrets, ordinary text left intact,
configured patterns, speed on multi-megabyte output, and the wiring (runner, loop, user messages).

No mocks: the corpus files are read from disk, tool output comes from a real subprocess on
the local target, and the user-message check goes through the real turn driver into a real
SQLite database.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.config import Settings
from assistant.redaction import redact_value, redactor_for
from tools.redact import MASK, compile_patterns, redact

CORPUS = Path(__file__).parent / "redaction_corpus"
EXPECT = yaml.safe_load((CORPUS / "expectations.yaml").read_text())


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corpus_file_is_masked_and_ordinary_text_survives(name):
    text = (CORPUS / name).read_text()
    spec = EXPECT[name]
    out = redact(text)
    for secret in spec["secrets"]:
        assert secret in text, f"corpus drift: {secret!r} is not in {name}"
        assert secret not in out, f"{name}: secret {secret!r} survived"
    for masked in spec["masked"]:
        assert masked in out, f"{name}: expected {masked!r} in the redacted text"
    for kept in spec["keep"]:
        assert kept in text and kept in out, f"{name}: ordinary text {kept!r} was changed"
    assert out.count("\n") == text.count("\n") or name == "private-keys.log"  # lines stay lines
    assert redact(out) == out  # idempotent: redacting stored text again changes nothing


@pytest.mark.parametrize("path", sorted((CORPUS / "clean").iterdir()), ids=lambda p: p.name)
def test_clean_text_comes_out_byte_identical(path):
    text = path.read_text()
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "image@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "request_id=7c9e6679-7425-40de-944b-e07fc1f90ae7",
        'FATAL:  password authentication failed for user "app"',
        "pod sk-payments-api-6c4f9d8b7a-q8w2e CrashLoopBackOff",
        "integrity=sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
        "max_tokens=4096 prompt_tokens=1832 completion_tokens: 12",
        "secretName: api-tls",
        "token_type: bearer",
        "password_encryption = scram-sha-256",
        "Basic authentication required",
        "Bearer token missing",
        'Www-Authenticate: Bearer realm="api"',
        "DB_PASSWORD:  <set to the key 'password' in secret 'checkout-db'>",
        "password: ${DB_PASSWORD}",
        "bypass=true",
        "password:  24 bytes",
    ],
)
def test_look_alikes_are_not_masked(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgres://app:pw1@db", "postgres://app:[REDACTED]@db"),
        ("mongodb+srv://u:p@ss@c0.mongodb.net/x", "mongodb+srv://u:[REDACTED]@c0.mongodb.net/x"),
        ("redis://:hunter2@cache:6379", "redis://:[REDACTED]@cache:6379"),
        ("PGPASSWORD=Tr0ub4dor psql", "PGPASSWORD=[REDACTED] psql"),
        ("passwd: letmein", "passwd: [REDACTED]"),
        ('{"password":"ab\\"cd","x":1}', '{"password":"[REDACTED]","x":1}'),
        ('msg="{\\"password\\":\\"s3\\"}"', 'msg="{\\"password\\":\\"[REDACTED]\\"}"'),
        ("Authorization: Basic YWRtaW46c2VjcmV0", "Authorization: Basic [REDACTED]"),
        ("proxy-authorization: Bearer abc123def456", "proxy-authorization: Bearer [REDACTED]"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED]",
        ),
        (
            "machine github.com login bob password hunter22",
            "machine github.com login bob password [REDACTED]",
        ),
        ("--db-password s3cr3t --port 5432", "--db-password [REDACTED] --port 5432"),
    ],
)
def test_mask_keeps_the_shape(text, expected):
    assert redact(text) == expected


def test_truncated_pem_without_end_line_is_masked():
    text = (
        "x: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x2y3z\nQWERTYUIOPASDFGHJKL\n"
        "2026-03-14 next line\n"
    )
    out = redact(text)
    assert "MIIEowIBAAKCAQEA1x2y3z" not in out and "QWERTYUIOP" not in out and "2026-03-14 next line" in out


def test_configured_patterns_mask_the_secret_group_or_the_match():
    s = Settings(redact_patterns=[r"CUST-\d{6}", r"ticket=(?P<secret>[A-Z]{3}\d+)"])
    redactor = redactor_for(s)
    assert redactor("CUST-123456 opened ticket=ABC123 at 02:11") == f"{MASK} opened ticket={MASK} at 02:11"
    assert redactor("password=x1") == "password=[REDACTED]"  # built-ins still apply
    assert redactor_for(s) is redactor  # compiled once


def test_invalid_configured_pattern_is_a_config_error_naming_it():
    with pytest.raises(ValueError, match=r"invalid redact pattern '\(unclosed'"):
        Settings(redact_patterns=["(unclosed"])
    with pytest.raises(ValueError):
        compile_patterns(["ok", "[z-a]"])


def test_redact_value_walks_json():
    value = {"args": {"url": "https://u:pw@h/x", "n": 3}, "list": ["token=abc123"]}
    assert redact_value(value, redact) == {
        "args": {"url": "https://u:[REDACTED]@h/x", "n": 3},
        "list": ["token=[REDACTED]"],
    }


@pytest.mark.slow
def test_five_megabytes_of_logs_are_masked_in_linear_time():
    """Masking must scale linearly: 5 MB may cost about five times 1 MB, never 25 (a quadratic rule).
    The absolute speed is a benchmark figure (bench/redaction_worst_case.py), not a timed test."""
    text = "".join(p.read_text() for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.suffix != ".yaml")
    dense = (text * (5_000_000 // len(text) + 1))[:5_000_000]
    plain = (
        "2026-03-14T02:11:07Z INFO handled path=/v1/orders status=200 app=checkout session=42 key=a\n"
        * 60_000
    )[:5_000_000]

    def seconds(sample: str) -> float:  # CPU time, so tests running beside this one do not skew the ratio
        t0 = time.process_time()
        redact(sample)
        return time.process_time() - t0

    out = redact(dense)
    assert "x9vJupc94tnwlavyfErGPmpG" not in out
    assert redact(plain) == plain
    for sample in (dense, plain):
        small = min(seconds(sample[:1_000_000]) for _ in range(2))
        large = min(seconds(sample) for _ in range(2))
        assert large < 15 * max(small, 0.01), (small, large)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
    | st.lists(
        st.sampled_from(
            [
                "password=",
                "Bearer ",
                "://",
                "u:p@",
                "-----BEGIN RSA PRIVATE KEY-----\n",
                "AKIA",
                "sk-",
                "İ",
                '\\"',
                "'",
                "\n",
                "kind: Secret\n",
                "data:\n  k: v\n",
                "ghp_",
                "x" * 36,
                "$6$",
                "Cookie: a=b",
                "eyJ",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_never_raises_and_a_second_pass_never_reveals(text):
    once = redact(text)
    twice = redact(once)
    assert len(twice) <= len(once) + len(MASK)  # a second pass can only mask, never restore


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="-$"), max_size=300))
def test_plain_text_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


async def test_runner_masks_real_process_output(tmp_path):
    """A real child process prints a secret; the ToolResult and its sha256 only ever see the mask."""
    from tools.base import RawOutput
    from tools.runner import run_tool
    from tools.targets.base import Target

    class ProcessTarget(Target):
        kind = "host"

        def supports(self, tool_name: str) -> bool:
            return True

        async def run(self, tool, args) -> RawOutput:
            import asyncio

            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "print('db up'); print('DATABASE_URL=postgres://app:Sup3rS3cret@db/app')",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            return RawOutput(
                exit_code=proc.returncode, output=out.decode(), command="env PGPASSWORD=Sup3rS3cret psql"
            )

    extra = redactor_for(Settings(redact_patterns=[r"db up"]))
    result = await run_tool(ProcessTarget("t"), "service_status", {"service": "nginx"}, redactor=extra)
    assert "Sup3rS3cret" not in result.output and "Sup3rS3cret" not in result.command
    assert "postgres://app:[REDACTED]@db/app" in result.output and result.output.startswith(MASK)
    import hashlib

    assert result.output_sha256 == hashlib.sha256(result.output.encode()).hexdigest()


@pytest.mark.slow
async def test_user_message_is_redacted_before_it_is_stored_or_sent(tmp_path):
    """drive_turn (server and CLI both use it) stores and sends the masked words, never the token."""
    from fake_openai import FakeOpenAI

    from assistant import store
    from assistant.events import EventType
    from assistant.turns import drive_turn

    fake = FakeOpenAI(script=[{"text": "Rotate that token now."}], delay_s=0.0).__enter__()
    s = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        model="openai/fake",
        api_base=fake.api_base,
        model_options={"api_key": "sk-fake"},
        model_retries=0,
        redact_patterns=[r"INC-\d+"],
    )
    engine = store.open_store(s.db_url)
    with store.writing(engine) as db:
        row = store.create_session(db, target="sandbox:nginx-port-conflict", model=s.model)
        turn = store.begin_turn(db, session_id=row.id, owner=store.current_owner())
    pasted = "INC-4411: deploy fails, my token is ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d and pw=hunter2"

    async def never(_req):
        raise AssertionError("no approval expected")

    try:
        status = await drive_turn(s, engine, row.id, turn.id, pasted, never)
    finally:
        fake.__exit__(None, None, None)
    assert status == "completed"
    sent = json.dumps(fake.requests)
    assert fake.requests and "deploy fails" in sent  # the model saw the message...
    assert (
        "ghp_u8jz" not in sent and "hunter2" not in sent and "INC-4411" not in sent
    )  # ...but not the secrets
    with store.reading(engine) as db:
        events = store.list_events(db, session_id=row.id)
        messages = store.list_messages(db, session_id=row.id)
        title = store.get_session(db, session_id=row.id).title
        raw_rows = db.connection().exec_driver_sql("SELECT data FROM events").fetchall()
    user = next(e.data for e in events if e.type is EventType.USER_MESSAGE)
    assert user.text == f"{MASK}: deploy fails, my token is ghp_{MASK} and pw={MASK}"
    assert messages[0].text == user.text
    assert "ghp_u8jz" not in title and "hunter2" not in title  # the session is named after the masked words
    dump = "\n".join(str(r[0]) for r in raw_rows)
    assert "ghp_u8jz" not in dump and "hunter2" not in dump and "INC-4411" not in dump
    engine.dispose()


def test_no_rule_is_left_unanchored():
    from tools.redact_rules import RULES

    for rule in RULES:
        assert rule.anchors and all(a == a.lower() for a in rule.anchors), rule.name
        if rule.ci:
            literal = re.sub(r"\(\?P<\w+>|\(\?P=\w+\)|\\[A-Za-z]|\[[^\]]*\]", "", rule.pattern.pattern)
            assert not re.search(r"[A-Z]", literal), rule.name  # matched against lowercased text
