"""The host renderers print what the real commands print.

Where the real tool exists on this machine (df, free, uptime, ps, ss, numfmt) the
rendering is compared with its actual output; otherwise with the documented format.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from tools.facts import (
    DnsFacts,
    FilesystemFacts,
    HostFacts,
    HttpFacts,
    ProcessFacts,
    ServiceFacts,
    ServiceProcess,
    SocketFacts,
    TlsFacts,
)
from tools.host.gather import filesystem_facts, host_facts, list_processes, sockets_on_port
from tools.render_host import (
    human_size,
    relative_time,
    render_df,
    render_dns,
    render_host_resources,
    render_http,
    render_ps,
    render_service_status,
    render_ss,
    render_tls,
)

NOW = datetime(2024, 11, 23, 3, 15, 2, tzinfo=UTC)


def _real(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


# ---------------------------------------------------------------- systemctl status


def test_failed_service_reads_like_systemctl():
    f = ServiceFacts(
        name="nginx",
        host="web-prod-01",
        description="A high performance web server and a reverse proxy server",
        unit_path="/lib/systemd/system/nginx.service",
        active="failed",
        sub="failed",
        result="exit-code",
        since=NOW - timedelta(minutes=3, seconds=1),
        exec_kind="ExecStartPre",
        exec_pid=812,
        exec_cmd="/usr/sbin/nginx -t -q -g daemon on; master_process on;",
        exit_code="exited",
        exit_status=1,
        cpu="23ms",
        journal=[
            (
                "Nov 23 03:12:01 web-prod-01 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed "
                "(98: Address already in use)"
            )
        ],
    )
    text, code = render_service_status(f, NOW)
    assert code == 3
    assert text.splitlines() == [
        "● nginx.service - A high performance web server and a reverse proxy server",
        "     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; vendor preset: enabled)",
        "     Active: failed (Result: exit-code) since Sat 2024-11-23 03:12:01 UTC; 3min 1s ago",
        (
            "    Process: 812 ExecStartPre=/usr/sbin/nginx -t -q -g daemon on; master_process on; "
            "(code=exited, status=1/FAILURE)"
        ),
        "        CPU: 23ms",
        "",
        "Nov 23 03:12:01 web-prod-01 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
    ]


def test_running_crashlooping_and_missing_services():
    running = ServiceFacts(
        name="nginx.service",
        active="active",
        sub="running",
        since=NOW - timedelta(days=4),
        main_pid=700,
        main_cmd="nginx",
        tasks=3,
        tasks_limit=4557,
        memory="12.3M",
        processes=[
            ServiceProcess(pid=700, cmd="nginx: master process /usr/sbin/nginx"),
            ServiceProcess(pid=701, cmd="nginx: worker process"),
        ],
    )
    text, code = render_service_status(running, NOW)
    assert code == 0 and "Active: active (running) since Tue 2024-11-19 03:15:02 UTC; 4 days ago" in text
    assert "   Main PID: 700 (nginx)\n      Tasks: 3 (limit: 4557)\n     Memory: 12.3M\n" in text
    assert text.endswith(
        "     CGroup: /system.slice/nginx.service\n             ├─700 nginx: master process "
        "/usr/sbin/nginx\n             └─701 nginx: worker process\n"
    )

    looping = ServiceFacts(
        name="api",
        active="activating",
        sub="auto-restart",
        result="exit-code",
        since=NOW - timedelta(seconds=2),
        main_pid=900,
        exec_pid=900,
        exec_cmd="/usr/bin/node app.js",
        exit_code="exited",
        exit_status=1,
    )
    text, code = render_service_status(looping, NOW)
    assert code == 3 and "Active: activating (auto-restart) (Result: exit-code) since" in text
    assert "Main PID: 900 (code=exited, status=1/FAILURE)" in text

    killed = looping.model_copy(
        update={
            "active": "failed",
            "sub": "failed",
            "result": "signal",
            "exit_code": "killed",
            "exit_status": 9,
        }
    )
    assert "(code=killed, status=9/KILL)" in render_service_status(killed, NOW).text
    assert render_service_status(ServiceFacts(name="foo", loaded="not-found")) == (
        "Unit foo.service could not be found.\n",
        4,
    )
    assert (
        "Active: inactive (dead)\n"
        in render_service_status(ServiceFacts(name="x", active="inactive", sub="dead")).text
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "now"),
        (1, "1s ago"),
        (59, "59s ago"),
        (61, "1min 1s ago"),
        (300, "5min ago"),
        (3661, "1h 1min ago"),
        (6 * 3600, "6h ago"),
        (25 * 3600, "1 day 1h ago"),
        (3 * 86400, "3 days ago"),
        (8 * 86400, "1 week 1 day ago"),
        (40 * 86400, "1 month 9 days ago"),
        (800 * 86400, "2 years 2 months ago"),
    ],
)
def test_relative_time_like_systemd(seconds, text):
    assert relative_time(seconds) == text


# ---------------------------------------------------------------- ss, ps


def test_ss_groups_owners_and_lists_their_commands():
    started = NOW - timedelta(minutes=5)
    sockets = [
        SocketFacts(
            local_port=80,
            pid=2314,
            process="node",
            fd=19,
            user="deploy",
            started=started,
            cmdline="node /srv/app/server.js",
        ),
        SocketFacts(
            local_port=80,
            pid=2315,
            process="node",
            fd=19,
            user="deploy",
            started=started,
            cmdline="node /srv/app/server.js --worker",
        ),
        SocketFacts(
            local_address="::",
            local_port=80,
            pid=2314,
            process="node",
            fd=20,
            user="deploy",
            started=started,
            cmdline="node /srv/app/server.js",
        ),
    ]
    text, code = render_ss(sockets, 80)
    lines = text.splitlines()
    assert code == 0 and lines[0] == "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process"
    assert lines[1] == (
        "LISTEN 0      0            0.0.0.0:80        0.0.0.0:*    "
        'users:(("node",pid=2314,fd=19),("node",pid=2315,fd=19))'
    )
    assert lines[2].split() == ["LISTEN", "0", "0", "[::]:80", "[::]:*", 'users:(("node",pid=2314,fd=20))']
    assert lines[3:] == [
        "",
        "    PID USER                      STARTED CMD",
        "   2314 deploy   Sat Nov 23 03:10:02 2024 node /srv/app/server.js",
        "   2315 deploy   Sat Nov 23 03:10:02 2024 node /srv/app/server.js --worker",
    ]
    text, code = render_ss([], 5432, "udp")
    assert code == 1 and text.endswith("# no process is bound to udp port 5432\n")


def test_ss_rows_align_like_real_ss():
    port = next(
        (
            c.laddr.port
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.ip == "127.0.0.1" and c.pid
        ),
        None,
    )
    if port is None:
        pytest.skip("no loopback listener on this host")
    real = _real(["ss", "-ltnp", f"sport = :{port}"]).splitlines()
    ours = render_ss(sockets_on_port(port), port).text.splitlines()
    assert ours[0].replace("Port Process", "PortProcess") == real[0].rstrip()
    real_v4 = next(line for line in real if "127.0.0.1:" in line)
    ours_v4 = next(line for line in ours if "127.0.0.1:" in line)
    # column positions match; queue sizes come from netlink in ss, which psutil does not expose
    assert ours_v4.index("127.0.0.1:") == real_v4.index("127.0.0.1:") and ours_v4.index(
        "users:"
    ) == real_v4.index("users:")


def test_ps_aux_rows():
    rows = render_ps(
        [
            ProcessFacts(
                pid=1,
                user="root",
                cpu_percent=0.04,
                mem_percent=0.1,
                vsz_kb=167744,
                rss_kb=11520,
                stat="Ss",
                start="Nov19",
                time="0:05",
                cmdline="/sbin/init",
            ),
            ProcessFacts(pid=2, user="systemd-network", stat="S", start="Nov19", cmdline="", name="kthreadd"),
        ]
    ).text.splitlines()
    assert rows == [
        "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND",
        "root           1  0.0  0.1 167744 11520 ?        Ss   Nov19   0:05 /sbin/init",
        "systemd+       2  0.0  0.0      0     0 ?        S    Nov19   0:00 [kthreadd]",
    ]
    real = _real(["ps", "aux"]).splitlines()[0]
    assert rows[0].split() == real.split()
    ours = render_ps(list_processes()).text.splitlines()
    assert len(ours) > 3 and all(len(line.split(None, 10)) == 11 for line in ours)


# ---------------------------------------------------------------- uptime, free, top


def test_host_resources_layout():
    h = HostFacts(
        now=NOW,
        uptime_s=4 * 86400 + 2 * 3600 + 11 * 60,
        users=1,
        load=(0.52, 0.58, 0.59),
        cpu_count=4,
        mem_total=8 * 2**30,
        mem_used=2 * 2**30,
        mem_free=3 * 2**30,
        mem_buff_cache=3 * 2**30,
        mem_available=5 * 2**30,
        swap_total=2**31,
        swap_free=2**31,
    )
    lines = render_host_resources(h).text.splitlines()
    assert lines[0] == " 03:15:02 up 4 days,  2:11,  1 user,  load average: 0.52, 0.58, 0.59"
    assert lines[2:5] == [
        "               total        used        free      shared  buff/cache   available",
        "Mem:            8192        2048        3072           0        3072        5120",
        "Swap:           2048           0        2048",
    ]
    assert lines[6] == "%Cpu(s):  0.0 us,  0.0 sy,  0.0 ni, 100.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st"
    assert lines[7] == "CPU(s): 4"
    short = render_host_resources(h.model_copy(update={"uptime_s": 300, "users": 3})).text
    assert short.startswith(" 03:15:02 up 5 min,  3 users,  load average:")


def test_host_resources_matches_real_free_and_uptime():
    before = _real(["uptime"]).strip()
    ours = render_host_resources(host_facts(sample_s=0.05)).text.splitlines()
    after = _real(["uptime"]).strip()
    free = _real(["free", "-m"]).splitlines()
    assert ours[2] == free[0]
    assert ours[3].split()[1] == free[1].split()[1] and ours[4].split()[1] == free[2].split()[1]
    pattern = r"^\d\d:\d\d:\d\d up .+,\s+\d+ users?,\s+load average: [\d.]+, [\d.]+, [\d.]+$"
    assert re.match(pattern, before) and re.match(pattern, ours[0].strip())

    def up(
        line: str,
    ) -> str:  # "3 days,  2:11" / "28 min" and the user count: what uptime says before the load
        return line.split(" up ", 1)[1].split("load average")[0]

    assert up(ours[0]) in (up(" " + before), up(" " + after))  # the clock may tick over a minute in between


# ---------------------------------------------------------------- df


def test_df_matches_real_df(tmp_path):
    real_h = _real(["df", "-h", str(tmp_path)]).splitlines()
    real_i = _real(["df", "-i", str(tmp_path)]).splitlines()
    ours = render_df([filesystem_facts(str(tmp_path))]).text.split("\n\n")
    h_lines, i_lines = ours[0].splitlines(), ours[1].splitlines()
    assert h_lines[0] == real_h[0] and i_lines[0] == real_i[0]
    assert h_lines[1].split()[1] == real_h[1].split()[1]  # size
    assert h_lines[1].split()[-1] == real_h[1].split()[-1]  # mount point
    assert i_lines[1].split()[1] == real_i[1].split()[1]  # inode total
    assert abs(int(i_lines[1].split()[2]) - int(real_i[1].split()[2])) < 1000


def test_df_layout_and_empty_filesystems():
    text = render_df(
        [
            FilesystemFacts(
                filesystem="/dev/sda1",
                size=50 * 2**30,
                used=47 * 2**30,
                avail=3 * 2**30,
                mounted_on="/",
                inodes_total=3276800,
                inodes_used=3276790,
                inodes_free=10,
            ),
            FilesystemFacts(filesystem="tmpfs", size=0, mounted_on="/dev/shm"),
        ]
    ).text
    assert text == (
        "Filesystem      Size  Used Avail Use% Mounted on\n"
        "/dev/sda1        50G   47G  3.0G  94% /\n"
        "tmpfs              0     0     0    - /dev/shm\n"
        "\n"
        "Filesystem      Inodes   IUsed IFree IUse% Mounted on\n"
        "/dev/sda1      3276800 3276790    10  100% /\n"
        "tmpfs                0       0     0     - /dev/shm\n"
    )


@pytest.mark.parametrize(
    "n",
    [
        0,
        512,
        1023,
        1024,
        1025,
        10239,
        10240,
        1047553,
        1073741823,
        5_000_000_000,
        999 * 2**30,
        1023 * 2**30 + 1,
        2**40,
        7 * 2**50,
    ],
)
def test_human_size_matches_coreutils(n):
    assert human_size(n) == _real(["numfmt", "--to=iec", "--round=up", str(n)]).strip()


# ---------------------------------------------------------------- host, curl, openssl


def test_dns_forms():
    assert render_dns(DnsFacts(name="db.internal", addresses=["10.0.3.12", "fd00::12"])) == (
        "db.internal has address 10.0.3.12\ndb.internal has IPv6 address fd00::12\n",
        0,
    )
    assert (
        render_dns(
            DnsFacts(name="www.example.com", canonical_name="example.com.", addresses=["93.184.216.34"])
        ).text
        == "www.example.com is an alias for example.com.\nexample.com has address 93.184.216.34\n"
    )
    assert render_dns(DnsFacts(name="db-prod.internal", status="NXDOMAIN")) == (
        "Host db-prod.internal not found: 3(NXDOMAIN)\n",
        1,
    )
    assert (
        render_dns(DnsFacts(name="x.internal", status="SERVFAIL")).text
        == "Host x.internal not found: 2(SERVFAIL)\n"
    )
    assert render_dns(DnsFacts(name="x.internal", status="TIMEOUT")) == (
        ";; connection timed out; no servers could be reached\n",
        1,
    )
    assert (
        render_dns(DnsFacts(name="10.0.3.12", ptr_names=["db.internal"])).text
        == "12.3.0.10.in-addr.arpa domain name pointer db.internal.\n"
    )


def test_http_forms():
    text, code = render_http(
        HttpFacts(
            url="http://a/",
            status=502,
            reason="Bad Gateway",
            time_total_s=0.1234,
            headers=[("Server", "nginx/1.18.0")],
            body="<html>bad gateway</html>",
        )
    )
    assert (
        code == 0
        and text
        == "HTTP/1.1 502 Bad Gateway\nServer: nginx/1.18.0\n\n<html>bad gateway</html>\ntime_total=0.123s\n"
    )
    assert render_http(HttpFacts(url="http://a/", http_version="2", status=200, reason="OK")).text.startswith(
        "HTTP/2 200\n"
    )
    text, code = render_http(
        HttpFacts(
            url="http://a/",
            curl_exit=28,
            time_total_s=10.001,
            curl_error="Operation timed out after 10001 milliseconds with 0 bytes received",
        )
    )
    assert code == 28 and text == (
        "curl: (28) Operation timed out after 10001 milliseconds with 0 bytes received\ntime_total=10.001s\n"
    )


@pytest.mark.parametrize(
    ("after_days", "status", "days_left"),
    [
        (-21.5, "EXPIRED", -21),
        (0.5, "EXPIRING SOON", 0),
        (13.5, "EXPIRING SOON", 13),
        (14.5, "OK", 14),
        (400.2, "OK", 400),
    ],
)
def test_tls_status(after_days, status, days_left):
    t = TlsFacts(
        host="api.internal",
        subject="CN = api.internal",
        issuer="C = US, O = Let's Encrypt, CN = R3",
        not_before=NOW - timedelta(days=60),
        not_after=NOW + timedelta(days=after_days),
    )
    lines = render_tls(t, NOW).text.splitlines()
    assert lines[:2] == ["subject=CN = api.internal", "issuer=C = US, O = Let's Encrypt, CN = R3"]
    assert re.fullmatch(r"notAfter=\w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT", lines[3])
    assert lines[-2:] == [f"days_left={days_left}", f"status={status}"]


def test_tls_not_yet_valid_and_errors():
    t = TlsFacts(host="a", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=90))
    assert render_tls(t, NOW).text.endswith("status=NOT YET VALID\n")
    text, code = render_tls(TlsFacts(host="a", port=8443, error="Connection refused"), NOW)
    assert code == 1 and text == "error=connect to a:8443 failed: Connection refused\nstatus=ERROR\n"
    assert render_tls(
        TlsFacts(host="a", not_after=datetime(2026, 11, 1), not_before=datetime(2026, 8, 3)), NOW
    ).text.splitlines()[2:4] == ["notBefore=Aug  3 00:00:00 2026 GMT", "notAfter=Nov  1 00:00:00 2026 GMT"]
