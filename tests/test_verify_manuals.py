"""The LLM sentence check on manuals: commands, paths, addresses and English pages asked in Chinese.

A strong model answering from a technical manual writes `code`, paths and options, frames with
根据手册, and answers a Chinese question about English text in Chinese. The paragraphs are real
ones from the dev corpora (eval/corpora/), each given as the one chunk a sentence cites; the
embedder is the bundled one, as in the pipeline.
"""

from __future__ import annotations

import pytest

from qa.config import Settings
from qa.index.embeddings import embed_queries, make_embeddings
from qa.query.markers import Cite
from qa.query.verify import FactVerifier, identifiers, is_english
from qa.records import Chunk

APT = (
    "通过APT，软件包可以从系统中添加或移除，命令分别为apt install软件包、apt remove软件包。在以上两种情况中，"
    "APT 将会自动安装必要的依赖包或者删除依赖于删除包的软件包。apt purge软件包命令包含一个彻底删除 — "
    "相关的配置文件也会被删除。"
)
CRON = (
    "cron 软件包默认包含一些可执行的调度命令：\n每小时运行在 /etc/cron.hourly/ 文件夹内的程序;\n"
    "每天运行在 /etc/cron.daily/ 文件夹内的程序;\n每周运行在 /etc/cron.weekly/ 文件夹内的程序;\n"
    "每月运行在 /etc/cron.monthly/ 文件夹内的程序。"
)
NICS = (
    "LTSP 服务器在使用缺省网络架构时需要两个网卡：\neth0 连接到主网（10.0.0.0/8），\n"
    "使用 eth1 为 LTSP 客户端服务。"
)
ICINGA = (
    "在默认情况下 Icinga 不发送电子邮件。这可以在 /etc/icinga/sitesummary-template-contacts.cfg 中用 "
    "host-notify-by-email和 notify-by-email 替换 notify-by-nothing 来改变。"
)
NFS = (
    "RPC services register to a directory known as the portmapper. A client wishing to perform an NFS "
    "query first addresses the portmapper (on port 111, either TCP or UDP), and asks for the NFS server; "
    "the reply usually mentions port 2049 (the default for NFS). Not all RPC services necessarily use a "
    "fixed port."
)
SEC = (
    "With NFSv4, you can add a sec option to indicate the security level that you want: sec=sys is the "
    "default with no special security features, sec=krb5 enables authentication only, sec=krb5i adds "
    "integrity protection, and sec=krb5p is the most complete level which includes privacy protection "
    "(with data encryption)."
)
VERDICTS = (
    "Rules are made of statements, which includes some expressions to be matched and then a verdict "
    "statement, like accept, drop, queue, continue, return, jump chain and goto chain."
)
TUNNEL = (
    "ssh -L 8000:server:25 intermediary establishes an SSH session with the intermediary host and listens "
    "to local port 8000. For any connection established on this port, ssh will initiate a connection from "
    "the intermediary computer to port 25 on the server, and will bind both connections together."
)
BOUND = "initiate a connection from the intermediary computer to port 25 on the server, and will bind both"
MACHINES = (
    "Each machine can be identified either by its DNS name or its IP address. Whole sets of machines can "
    "also be specified using either a syntax such as *.falcot.com or an IP address range such as "
    "192.168.0.0/255.255.255.0 or 192.168.0.0/24."
)
SNAPSHOTS = (
    "The text at the bottom show that 3 detailed snapshots were taken for this program (snapshots 9, 14 and "
    "24). By default, every 10th snapshot is detailed, although this can be changed via the --detailed-freq "
    "option."
)
IDENTIFIED = "Each machine can be identified either by its DNS name or its IP address"
PORTMAPPER = (
    "A client wishing to perform an NFS query first addresses the portmapper (on port 111, either TCP or UDP)"
)
DEFAULT_PORT = "the reply usually mentions port 2049 (the default for NFS)"


@pytest.fixture(scope="module")
def facts() -> FactVerifier:
    embeddings = make_embeddings(Settings())
    return FactVerifier(embed=lambda texts: embed_queries(embeddings, texts))


def check(facts: FactVerifier, claim: str, quote: str, text: str, section: str = ""):
    chunk = Chunk("c1", "d1", "手册", section, (1,), text, text)
    return facts.check(claim, [Cite(1, quote)], {1: chunk})


TRUE = [
    # framed as the manual says it, a command in code, the kind of thing named after it
    (
        "根据手册，`apt purge 软件包` 会彻底删除软件包，相关的配置文件也会被删除。",
        "apt purge软件包命令包含一个彻底删除",
        APT,
    ),
    (
        "cron 会每周运行 `/etc/cron.weekly/` 目录中的程序。",
        "每周运行在 /etc/cron.weekly/ 文件夹内的程序",
        CRON,
    ),
    ("其中 `eth0` 连接到主网（`10.0.0.0/8`）。", "eth0 连接到主网（10.0.0.0/8）", NICS),
    ("默认情况下，Icinga 不会发送电子邮件。", "在默认情况下 Icinga 不发送电子邮件", ICINGA),  # 不会 for 不
    # Chinese about English text
    ("客户端首先会在 111 端口（TCP 或 UDP）联系 portmapper，询问 NFS 服务器在哪里。", PORTMAPPER, NFS),
    ("回复里通常会给出 NFS 的默认端口 2049。", DEFAULT_PORT, NFS),
    (
        "RPC 服务会注册到一个叫作 portmapper 的目录中。",
        "RPC services register to a directory known as the portmapper",
        NFS,
    ),
    ("The reply usually gives port 2049, the default for NFS.", DEFAULT_PORT, NFS),
    (
        "任何連到這個連接埠的連線，ssh 都會從中繼主機向伺服器的 25 連接埠發起連線，並把兩條連線綁在一起。",
        BOUND,
        TUNNEL,
    ),
    (
        "Any connection to that port makes ssh connect to port 25 on the server and bind the two together.",
        BOUND,
        TUNNEL,
    ),
    (
        "According to the handbook, `sec=sys` is the default and provides no special security features.",
        "sec=sys is the default with no special security features",
        SEC,
    ),
    (
        "`sec=krb5` enables authentication only, while `sec=krb5i` adds integrity protection.",
        "sec=krb5 enables authentication only, sec=krb5i adds integrity protection",
        SEC,
    ),
]

TRUE += [
    ("單一機器可以用 DNS 名稱或 IP 位址來識別。", IDENTIFIED, MACHINES),  # not "machine" for MAC
    (
        "根据 FAQ，默认每 10 个快照中有一个是详细快照。",
        "By default, every 10th snapshot is detailed",
        SNAPSHOTS,
    ),
]

WRONG = [
    (
        "entity_swap",
        "根据手册，`apt remove 软件包` 会彻底删除软件包，相关的配置文件也会被删除。",
        "apt purge软件包命令包含一个彻底删除",
        APT,
    ),
    (
        "entity_swap",
        "cron 会每周运行 `/etc/cron.daily/` 目录中的程序。",
        "每周运行在 /etc/cron.weekly/ 文件夹内的程序",
        CRON,
    ),
    ("number_binding", "其中 `eth1` 连接到主网（`10.0.0.0/8`）。", "eth0 连接到主网（10.0.0.0/8）", NICS),
    ("number_swap", "其中 `eth0` 连接到主网（`10.0.0.0/16`）。", "eth0 连接到主网（10.0.0.0/8）", NICS),
    (
        "condition_swap",
        "此外，cron 每周运行 /etc/cron.monthly/ 中的程序。",
        "每月运行在 /etc/cron.monthly/ 文件夹内的程序",
        CRON,
    ),
    ("negation", "默认情况下，Icinga 会发送电子邮件。", "在默认情况下 Icinga 不发送电子邮件", ICINGA),
    ("number_swap", "客户端首先会在 112 端口联系 portmapper。", PORTMAPPER, NFS),
    (
        "entity_swap",
        "RPC 服务会注册到一个叫作 rpcbind 的目录中。",
        "RPC services register to a directory known as the portmapper",
        NFS,
    ),
    (
        "negation",
        "RPC 服务不会注册到 portmapper 中。",
        "RPC services register to a directory known as the portmapper",
        NFS,
    ),
    ("entity_swap", "The reply usually gives port 2049, the default for Samba.", DEFAULT_PORT, NFS),
    ("entity_swap", "單一機器可以用 DNS 名稱或 MAC 位址來識別。", IDENTIFIED, MACHINES),
    (
        "number_binding",
        "`sec=krb5i` enables authentication only.",
        "sec=krb5 enables authentication only, sec=krb5i adds integrity protection",
        SEC,
    ),
]


@pytest.mark.parametrize(("claim", "quote", "text"), TRUE)
def test_a_true_sentence_about_a_manual_is_kept(facts, claim, quote, text):
    checked = check(facts, claim, quote, text)
    assert checked.supported, checked.reason


@pytest.mark.parametrize(("kind", "claim", "quote", "text"), WRONG)
def test_a_wrong_sentence_about_a_manual_is_removed_with_a_reason(facts, kind, claim, quote, text):
    checked = check(facts, claim, quote, text)
    assert not checked.supported, kind
    assert checked.reason


def test_identifiers_are_read_whole_and_a_chinese_sentence_full_of_them_stays_chinese():
    claim = (
        "可以在 `/etc/apt/apt.conf.d/` 里用 `Acquire::http::proxy` 设置 10.0.0.1 上的代理，见 e.g. read-only"
    )
    assert identifiers(claim) == ["/etc/apt/apt.conf.d/", "Acquire::http::proxy", "10.0.0.1"]
    assert not is_english(
        "nftables 的判决语句包括 `accept`、`drop`、`queue`、`continue`、`return`、`jump` 和 `goto`。"
    )


def test_a_name_the_chunks_section_gives_is_no_new_content(facts):
    """A paragraph under "nftables Behavior" that never repeats the name is still about nftables."""
    claim = "nftables 的判决语句包括 `accept`、`drop` 和 `queue`。"
    quote = "a verdict statement, like accept, drop, queue"
    assert check(facts, claim, quote, VERDICTS, section="14.2.1. nftables Behavior").supported
    assert not check(facts, claim, quote, VERDICTS).supported
