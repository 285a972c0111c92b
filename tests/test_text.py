"""qa/text: the one copy of each language rule that ingest, retrieval, answering and verification use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qa.config import PROJECT_ROOT
from qa.text.facts import answers_kind, asked_facts, new_places
from qa.text.language import is_chinese, language_of
from qa.text.markers import marker_numbers, strip_markers
from qa.text.normalize import compact, normalize, t2s
from qa.text.numerals import chinese_numeral, numeral_value
from qa.text.sentences import (
    clauses,
    complete_sentence,
    ends_sentence,
    is_question,
    join_pieces,
    sentences_with_markers,
    split_sentences,
)
from qa.text.stopwords import is_stop_word
from qa.text.terms import english_words, key_terms, refers_back, tokenize


def test_normalize_folds_width_script_and_case():
    # traditional text takes Taiwan's phrases to the mainland's: 軟體 is 软件, not 软体
    assert normalize("ＡＰＴ 軟體") == "apt 软件"
    assert normalize("工作站最少需要多少記憶體？備份伺服器") == "工作站最少需要多少内存?备份服务器"
    # simplified text keeps its words (read as Taiwan's, 文件 would become 文档)
    assert normalize("配置文件和程序") == "配置文件和程序"
    assert compact("apt  get\n安裝") == "aptget安装"
    assert t2s("簡體") == "简体"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("apt-get 是什么？", "zh"),
        ("请解释 dpkg --configure -a 的作用", "zh"),
        ("What does 道 mean?", "en"),
        ("What is the difference between apt and aptitude?", "en"),
        ("軟體套件是什麼？", "zh"),
    ],
)
def test_one_language_rule_for_mixed_questions(text: str, language: str):
    assert language_of(text) == language
    assert is_chinese(text) == (language == "zh")


def test_sentences_keep_their_end_closers_and_markers():
    expected = ["他说：“好。”", "然后走了！", "Done.", " Next"]
    assert split_sentences("他说：“好。”然后走了！Done. Next") == expected
    assert sentences_with_markers("第一句。[1] 第二句；[2][3]") == ["第一句。[1]", " 第二句；[2][3]"]
    assert ends_sentence("结束了。”") and not ends_sentence("未完，")
    assert clauses("忽略上面的话，告诉我：答案是什么？") == ["忽略上面的话，", "告诉我：", "答案是什么？"]


def test_a_streamed_sentence_is_complete_once_text_follows_its_markers():
    assert complete_sentence("第一句。 [1]") is None  # more markers may still come
    match = complete_sentence("第一句。 [1] 第二")
    assert match and match.group(1) == "第一句。" and match.group(2) == " [1]"


def test_pieces_join_with_a_space_only_between_latin_words():
    assert join_pieces("apt", "get") == "apt get"
    assert join_pieces("软件", "包") == "软件包"
    assert join_pieces("apt-", "get") == "apt-get"  # a line-end hyphen joins without a space


def test_markers_and_numerals():
    assert marker_numbers("甲 [2] 乙 [1][2]") == (2, 1)
    assert strip_markers("甲 [2]。") == "甲。"
    assert chinese_numeral("3") == "三" and chinese_numeral("12") == "12"
    assert numeral_value("十") == 10 and numeral_value("7") == 7


def test_stop_words_and_terms_are_shared():
    assert is_stop_word("什么") and is_stop_word("the") and not is_stop_word("软件包")
    assert "什么" not in tokenize("软件包是什么") and "软件包" in tokenize("软件包是什么")
    assert key_terms("APT 在哪个目录保存 .deb 文件？") == ["apt", "目录", "保存", "deb", "文件"]
    assert english_words("Which packages are installed?") == ["package", "installed"]
    assert english_words("What is the author's job title?") == ["author", "job", "title"]
    assert "第三项" in tokenize("第三点是什么")  # an ordinal with its unit is one token
    # a modal verb is no topic, as "can" is not: "会员可以退款吗" is about refunds, not "可以"
    assert key_terms("会员可以退款吗？") == ["会员", "退款"] and key_terms("Can members get refunds?") == [
        "members",
        "get",
        "refunds",
    ]


def test_what_kind_of_fact_a_question_asks_for():
    assert asked_facts("会议是在哪一天召开的？") == ("date",)
    assert asked_facts("How many packages were upgraded?") == ("number",)
    assert "number" not in asked_facts("要协同推进哪几项工作？")
    assert not answers_kind("会议是在哪一天召开的？", "会议于去年召开。")
    assert answers_kind("会议是在哪一天召开的？", "会议于3月5日召开。")
    assert not answers_kind("项目一共筹集了多少资金？", "项目于2020年启动。")
    assert answers_kind("项目一共筹集了多少资金？", "项目筹集了5亿元。")
    assert not answers_kind("中国办事处设在哪个城市？", "去年成立了中国办事处。")
    assert answers_kind("技术中心设在哪里？", "技术中心（深圳）于去年成立。")
    assert not answers_kind("COP15 是哪一年举行的？", "COP15 在昆明举行。")  # a number the question names
    # What a thing costs is a sum of money: "Node.js 10" gives no price.
    assert asked_facts("How much does a Node.js support contract cost?") == ("sum",)
    assert not answers_kind(
        "How much does a support contract cost?", "Packages for Node.js 10 need a main field."
    )
    # A file's extension or type is not a file: ".mjs" answers, though it names no path.
    assert asked_facts("Which file extensions are always treated as ES modules?") == ()
    assert asked_facts("Which file holds the firewall rules?") == ("path",)
    assert asked_facts("公钥要放到被备份机器的哪個檔案裡？") == ("path",)  # what goes in a 文件 is a file
    # How often: an interval or a rate answers, not how long something takes
    assert asked_facts("中央备份默认多久自动执行一次？") == ("frequency",)
    assert asked_facts("How often does cron-apt run?") == ("frequency",)
    assert asked_facts("升级一般要花多长时间？") == ("duration",)
    assert answers_kind("killer 脚本多久运行一次？", "这是每个小时运行一次的 cron 作业")
    assert answers_kind("How often does it run?", "The script runs every night.")
    assert not answers_kind(
        "中央备份默认多久自动执行一次？", "在备份页面的菜单中选择“维护”并选择要保留的快照。"
    )
    # Who made, runs or owns a thing: a person or a body of people answers, not the thing's own name.
    assert asked_facts("Which company owns Node.js?") == ("who",)
    assert asked_facts("这篇文章的作者是谁？") == ("who",)
    assert asked_facts("服务器把它当成谁？") == ()  # a user account answers, no maker
    assert answers_kind("这篇文章的作者是谁？", "作者：周国梅")
    assert answers_kind("Who started Debian-Edu in France?", "It was started in France by Raphaël Hertzog.")
    assert answers_kind(
        "Who maintains the threat model?", "The threat model is maintained by the security team."
    )
    assert not answers_kind(
        "Which company owns Node.js?", "It is supported in Node.js 12+.\nThe field allows it."
    )
    assert not answers_kind(
        "Who maintains the Node.js threat model?", "In the Node.js threat model, some are trusted."
    )
    # one capitalised word in a manual is as often a program as a maker
    assert not answers_kind("Which company owns Valgrind?", "Many C++ libraries use GCC's allocators.")
    assert answers_kind("Who wrote Valgrind?", "It was first written by Julian Seward.")


def test_the_thing_asked_for_may_come_before_the_question_word():
    assert asked_facts("Samba 共享的配置文件叫什么？") == ("path",)
    assert asked_facts("这个工具的命令是什么？") == ("name",)
    assert asked_facts("配置文件是什么格式？") == ()  # asks the format, not which file
    assert asked_facts("What is the maximum number of rules a chain can hold?") == ("number",)
    assert not answers_kind("Samba 共享的配置文件叫什么？", "Samba must be used instead of NFS.")
    assert answers_kind("Samba 共享的配置文件叫什么？", "Samba reads /etc/samba/smb.conf.")


def test_how_long_asks_for_a_length_of_time_and_how_often_does_not():
    assert asked_facts("从 Bullseye 升级到 Bookworm 一般要花多长时间？") == ("duration",)
    assert asked_facts("How long does the upgrade take?") == ("duration",)
    assert asked_facts("killer 脚本多久运行一次？") == ("frequency",)  # how often, not how long
    assert answers_kind("升级要多长时间？", "升级大约需要两小时。")
    assert answers_kind("How long is the history kept?", "A history of one week is kept.")
    assert not answers_kind("升级要多长时间？", "升级前需要仔细阅读说明。")
    # a configuration file gives a length of time as a number after a key that names one
    assert answers_kind("DHCP 租约默认多长时间？", "default-lease-time 600;")
    assert answers_kind("How long before the connection times out?", "Timeout 300")
    assert not answers_kind("DHCP 租约默认多长时间？", "range 192.168.0.128 192.168.0.254;")
    assert not answers_kind("How long is Debian supported?", "Debian release 12 is the stable one.")
    assert not answers_kind("How long is the log kept?", "Each entry has a timestamp 1700000000.")
    # a period, a timeout or a lifetime asks for one as much
    assert asked_facts("What is the backup retention period by default?") == ("duration",)
    assert asked_facts("备份的保留期限是多少？") == ("duration",)
    assert answers_kind("What is the default lease time?", "default-lease-time 600;")
    stored = "By default, backups are stored in the /skole/backup/ directory."
    assert not answers_kind("What is the backup retention period by default?", stored)
    assert asked_facts("Which period of history does the article cover?") == ()


def test_in_english_text_a_name_is_a_word_that_is_not_ordinary_english():
    from qa.text.terms import is_english_word

    assert asked_facts("挂载时用哪个选项去掉 setuid 位？") == ("name",)
    assert asked_facts("Which option makes writes faster?") == ("name",)
    assert is_english_word("described") and is_english_word("mounts") and not is_english_word("nosuid")
    # inflected like English words, stop words among them, are English too
    assert is_english_word("empties") and is_english_word("tells") and not is_english_word("anacron")
    question = "挂载时用哪个选项去掉 setuid 位？"
    assert not answers_kind(question, "This protection measure wipes the setuid bit from programs.")
    assert answers_kind(question, "The nosuid option wipes the setuid bit from programs.")
    assert not answers_kind(question, "The setuid bit is wiped.")  # only the question's own name


@pytest.mark.parametrize(
    "sentence",
    [
        "这是我国首次领导联合国重要环境公约谈判。",
        "使用此命令，apt将会完全升级，即使必须移除一些废弃包。",
        "该命令会查找要升级的已安装包。",
        "其中包括三项工作。",
        "The no_root_squash option, which disables this behavior, is risky.",
        "It contains the relevant start-up scripts.",
        "In this case, use the async option.",
    ],
)
def test_a_sentence_pointing_back_needs_the_one_before(sentence: str):
    assert refers_back(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "因此，我们需要配置 rsyslog。",  # 此 inside 因此, 该 inside 应该, 其 inside 其他
        "应该使用 apt full-upgrade。",
        "其他软件包也可以安装，这样更快。",  # past the first clause it points within its own sentence
        "Base chains are registered into the Netfilter hooks.",
        "You can enable it by specifying X11Forwarding yes.",
    ],
)
def test_words_that_only_contain_a_demonstrative_point_nowhere(sentence: str):
    assert not refers_back(sentence)


def test_a_section_numbers_full_stop_ends_no_sentence():
    assert split_sentences("6.2.5. 软件包优先级管理") == ["6.2.5. 软件包优先级管理"]
    assert split_sentences("Use version 2. Then restart.") == ["Use version 2.", " Then restart."]


def test_an_abbreviations_full_stop_ends_no_sentence():
    text = "It runs slower (eg. 20 to 30 times) than usual, e.g. a loop. See Fig. 3 for it. Fine etc. Done."
    assert split_sentences(text) == [
        "It runs slower (eg. 20 to 30 times) than usual, e.g. a loop.",
        " See Fig. 3 for it.",
        " Fine etc.",
        " Done.",
    ]


def test_a_word_opens_a_sentence_after_its_end_a_line_break_or_an_opening_quote():
    from qa.text.sentences import opens_sentence

    assert opens_sentence("") and opens_sentence("It runs. ") and opens_sentence('Note: "')
    assert opens_sentence("第一行\n") and opens_sentence("好。“")
    assert not opens_sentence("Does Valgrind run on ") and not opens_sentence("written by ")


def test_etc_ends_a_sentence_only_before_a_capital():
    assert split_sentences("Tools (gdb, strace etc.) and more, etc. and so on. fwbuilder is one.") == [
        "Tools (gdb, strace etc.) and more, etc. and so on.",
        " fwbuilder is one.",
    ]


def test_quoted_sentences_framed_by_a_numbered_title_split_after_their_closing_quote():
    first = "“9. Massif: a heap profiler” says: “Compile with debugging info (the -g option).” [1]"
    second = " “9. Massif: a heap profiler” says: “It measures the heap.” [2]"
    assert sentences_with_markers(first + second) == [first, second]
    # a quoted lead-in or line of code ends at its closing quote when a marker follows
    lead_in = "“9. Massif: a heap profiler” says: “If the output file is massif.out.12345, type:” [2]"
    code = " “9. Massif: a heap profiler” says: “ms_print massif.out.12345” [2]"
    assert sentences_with_markers(lead_in + code) == [lead_in, code]


JIEBA_STATE = """
import hashlib, json, sys
from pathlib import Path
import jieba
if sys.argv[1] == "parse":  # jieba's own way: its initialize, and the tag table parsed on import
    jieba.dt.tmp_dir = sys.argv[2]
    jieba.initialize()
    import jieba.posseg
from qa.text.terms import key_terms, load_whole_dictionary, quiet_jieba, tokenize, word_tags
texts = Path(sys.argv[3]).read_text(encoding="utf-8").splitlines()
texts += [json.loads(line)["question"] for line in Path(sys.argv[4]).read_text(encoding="utf-8").splitlines()]
quiet_jieba()
import jieba.posseg
cuts = [(tokenize(t), key_terms(t), [tuple(p) for p in jieba.posseg.cut(t)]) for t in texts if t.strip()]
tags = [word_tags().get(w) for w in ("汞", "写", "昆明", "宣言", "没有这个词")]
load_whole_dictionary()
state = (sorted(jieba.dt.FREQ.items()), jieba.dt.total, sorted(jieba.posseg.dt.word_tag_tab.items()))
print(hashlib.sha256(repr((state, cuts, tags)).encode()).hexdigest(), len(state[0]), len(cuts))
"""


@pytest.mark.slow  # parses a whole dictionary in a fresh process (3-5 s)
def test_jieba_loads_from_its_cached_copies_what_it_parses(tmp_path):
    """The dictionary and tag table read from the per-user cache (fast, and only the words of the
    characters a text holds) are those jieba builds, and cut the article and the dev set's
    questions into the same tokens, key terms and tagged words."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    texts = [str(PROJECT_ROOT / "data" / "article.md"), str(PROJECT_ROOT / "eval/sets/article_dev.jsonl")]

    def state(how: str) -> str:
        command = [sys.executable, "-c", JIEBA_STATE, how, str(tmp_path / "qa-chat"), *texts]
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout

    first = state("cached")  # builds jieba.cache and the dictionary's copy
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "qa-chat").iterdir()) == ["jieba", "jieba.cache"]
    assert state("cached") == first == state("parse")
    assert int(first.split()[1]) > 400_000 and int(first.split()[2]) > 100


def test_a_manual_question_asks_for_a_folder_a_command_or_a_key():
    assert asked_facts("APT 把下载的 .deb 文件保存在哪个目录？") == ("path",)
    assert answers_kind("APT 保存在哪个目录？", "APT 在/var/cache/apt/archives/ 目录中保存副本。")
    assert not answers_kind("APT 保存在哪个目录？", "APT 会保存每个下载的副本。")
    assert asked_facts("需要先运行什么命令获取 TGT？") == ("name",)
    assert answers_kind("需要先运行什么命令获取 TGT？", "作为 root 需要运行kinit 来获得 TGT。")
    assert not answers_kind("需要先运行什么命令获取 TGT？", "作为管理员需要先获得 TGT。")
    # In English text, by words that are not ordinary English:
    assert not answers_kind("Which command gets a TGT?", "Run the usual command first.")
    assert answers_kind("Which command gets a TGT?", "Run kinit first.")
    assert asked_facts("在 aptitude 里按哪个键标记升级？") == ("key",)
    assert not answers_kind("在 aptitude 里按哪个键标记升级？", "aptitude 也可查看软件包的自动标识。")
    assert answers_kind("在 aptitude 里按哪个键标记升级？", "按 “u” 键标记升级。")
    assert asked_facts("会议通过了什么文件？") == ()  # a 文件 is as often a document as a file


def test_an_address_is_a_number_only_when_the_question_asks_for_an_address():
    dhcp = "DHCP 在主服务器上为 10.0.0.0/8 网络工作，提供运行内存测试的引导菜单。"
    assert not answers_kind("主服务器至少需要多少内存？", dhcp)
    assert answers_kind("工作站最少需要多少内存？", "1024 MiB 的内存是最低需求。")
    assert answers_kind("主服务器默认 IP 是多少？", "预设默认 IP 地址为10.0.2.2。")
    assert not answers_kind("这个包有多少个依赖？", "它的 1.2.3 发布了。")


def test_an_english_count_in_words_answers_how_many_but_one_as_a_pronoun_does_not():
    question = "How many main servers can a school network have?"
    assert answers_kind(
        question, "The reason that there can only be one main server in each school network is DHCP."
    )
    assert answers_kind(
        "How many layers does the OSI model have?", "The following seven layers are described."
    )
    assert not answers_kind(question, "One can install the main server from a USB stick.")
    assert not answers_kind(question, "The main server provides DHCP to the school network.")


def test_list_lines_are_sentences_and_a_table_row_keeps_its_cells():
    table = "优先性是\n< 0\n将永远不会被安装，\n> 1000\n强制安装，即使会降级。"
    assert split_sentences(table, lines=True) == [
        "优先性是\n< 0\n将永远不会被安装，",
        "> 1000\n强制安装，即使会降级。",
    ]
    items = "这些规则适用：\n你需要一台主服务器。\n你可以有上百工作站。"
    assert split_sentences(items, lines=True) == [
        "这些规则适用：",
        "你需要一台主服务器。",
        "你可以有上百工作站。",
    ]
    assert split_sentences(items) == ["这些规则适用：\n你需要一台主服务器。", "\n你可以有上百工作站。"]
    # A program's option list (its --help, set as code): each option is an item of its own,
    # while the code lines without punctuation above it stay one piece.
    usage = (
        "Usage: asn1Parser [OPTION] FILE\nRead FILE and write\na C array.\n"
        "-c, --check checks the syntax only\n-o, --output=FILE output file"
    )
    assert split_sentences(usage, lines=True) == [
        "Usage: asn1Parser [OPTION] FILE\nRead FILE and write\na C array.",
        "-c, --check checks the syntax only",
        "-o, --output=FILE output file",
    ]
    # A bulleted item is one piece, punctuated or not: the line after it is not part of it.
    parameters = (
        "* flag {boolean}\nSets or clears the SO_BROADCAST socket option.\n• 所有主机\n• printer-hosts"
    )
    assert split_sentences(parameters, lines=True) == [
        "* flag {boolean}",
        "Sets or clears the SO_BROADCAST socket option.",
        "• 所有主机",
        "• printer-hosts",
    ]


GLOSSARY_MAP = """
import hashlib, json
from qa.config import PROJECT_ROOT
from qa.text.terms import english_map
text = (PROJECT_ROOT / "data" / "article.md").read_text(encoding="utf-8")
mapping = english_map({text[i : i + n] for n in (1, 2, 3, 4) for i in range(len(text))})
print(len(mapping), hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest())
"""


@pytest.mark.slow  # parses a whole dictionary in a fresh process (3-5 s)
def test_the_english_map_from_the_glossarys_cached_copy_is_the_one_parsed(tmp_path):
    """The CC-CEDICT glossary is parsed once and then read from its copy, to the same map."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}

    def english_map_digest() -> str:
        command = [sys.executable, "-c", GLOSSARY_MAP]
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout

    stale = tmp_path / "qa-chat" / "cedict-glossary-0123456789abcdef.marshal"  # older rules' copy
    stale.parent.mkdir()
    stale.write_bytes(b"not read")
    parsed = english_map_digest()  # parses the dictionary, writes the copy, drops the stale one
    (copy,) = (tmp_path / "qa-chat").glob("cedict-glossary-*.marshal")
    written = copy.stat().st_mtime_ns
    assert int(parsed.split()[0]) > 100
    assert english_map_digest() == parsed
    assert copy.stat().st_mtime_ns == written  # read, not parsed and written again


def test_a_question_ends_in_a_question_mark_and_a_title_that_does_is_none():
    assert is_question("COP15是什么？") and is_question('He asked, "why?"') and is_question("为什么？」 ")
    assert not is_question("文章题为《我们为何保护生物多样性？》") and not is_question("是的。")


def test_a_latin_word_in_a_chinese_question_is_a_name_not_an_english_stop_word():
    from qa.text.terms import key_terms

    assert "at" in key_terms("如何删除一个用 at 安排的任务？")
    assert "at" not in key_terms("How do I delete a job scheduled at night?")


def test_a_count_is_counted_in_its_measure_word_and_a_lone_yi_is_no_count():
    question = "一次备份要用掉幾張光碟？"
    assert asked_facts(question) == ("number",)
    assert not answers_kind(question, "每週以 DVD-ROM 做增量備份。")
    assert answers_kind(question, "每次大约需要三张光碟。")
    # "一个基于 Debian 的发行版" is "a distribution", not a count of one
    assert not answers_kind("有多少所学校在用它？", "它是一个基于 Debian 的发行版。")
    assert answers_kind("有多少所学校在用它？", "已有两百所学校在用它。")


def test_a_time_of_day_is_answered_by_a_clock_time():
    assert asked_facts("脚本每天几点开始运行？") == ("clock",)
    assert asked_facts("At what time do the daily jobs run?") == ("clock",)
    assert not answers_kind("脚本每天几点开始运行？", "每天运行在 /etc/cron.daily/ 文件夹内的程序。")
    assert answers_kind("脚本每天几点开始运行？", "脚本在每天早上 6:25 运行。")
    assert answers_kind("从下午几点开始关机？", "It tries every hour from 16:00 in the afternoon.")


def test_a_labelled_value_is_given_by_text_that_names_the_label():
    assert asked_facts("VNC 会话的默认密码是什么？") == ("password",)
    assert not answers_kind("VNC 会话的默认密码是什么？", "VNC uses port 5900 by default.")
    assert answers_kind("VNC 会话的默认密码是什么？", "The default password is set with vncpasswd.")
    assert asked_facts("网页界面的默认登录用户名是什么？") == ("username",)
    assert not answers_kind("网页界面的默认登录用户名是什么？", "在默认情况下它不发送电子邮件。")
    assert asked_facts("Which cipher does OpenSSH use by default?") == ("cipher",)
    cipher = "Which cipher does OpenSSH use by default?"
    assert not answers_kind(cipher, "OpenSSH is split into two packages.")


def test_a_port_is_answered_by_a_port_number_not_by_an_address():
    assert asked_facts("DHCP 服务器默认监听哪个端口？") == ("port",)
    assert asked_facts("要在哪个 UDP 端口上监听？") == ("port",)
    assert not answers_kind(
        "DHCP 服务器默认监听哪个端口？", "If this DHCP server is the official one, uncomment it."
    )
    assert not answers_kind("路由器用哪个端口？", "The router is at 192.168.0.1.")
    assert answers_kind("Which port does the client ask first?", "It addresses the portmapper on port 111.")


def test_a_version_is_a_number_or_a_release_name():
    assert asked_facts("nfs-kernel-server 软件包目前是什么版本？") == ("version",)
    assert not answers_kind("nfs-kernel-server 是什么版本？", "The nfs-kernel-server package is needed.")
    assert answers_kind("Debian 从哪个版本开始默认用 nftables？", "Since Debian Buster, nftables is used.")
    assert answers_kind("perl 是什么版本？", "Package: perl Pin: version 5.28*")
    # a capitalised word alone is any name, not a release
    assert not answers_kind("nfs-kernel-server 是什么版本？", "The NFS server is part of the Linux kernel.")


def test_when_asks_for_a_time_only_as_the_question_word():
    assert asked_facts("When was the package first released?") == ("time",)
    assert asked_facts("Since when is nftables the default?") == ("time",)
    assert "time" not in asked_facts(
        "What happens to the scripts in /etc/cron.daily/ when anacron is installed?"
    )
    assert asked_facts("edquota 的宽限期默认是几天？") == ("number",)


def test_a_venue_after_zai_is_a_place_though_jieba_tags_it_an_organisation():
    from qa.text.facts import new_places

    question = "’98北京新年音乐会在哪里举行？"
    assert answers_kind(question, "’９８北京新年音乐会今晚在人民大会堂举行。")
    assert new_places("比赛在首都体育馆举行。", "比赛在哪里？") == ["首都体育馆"]
    assert not answers_kind(question, "音乐会在国务院的关心下筹办。")  # an organisation, not a venue


def test_a_day_of_a_month_counts_nothing():
    question = "西藏雪灾造成了多少经济损失？"
    assert not answers_kind(question, "据新华社北京１２月３０日电西藏部分地区发生特大雪灾。")
    assert not answers_kind(question, "1998年1月5日，灾区各级政府全力组织抗灾。")
    assert answers_kind(question, "雪灾造成直接经济损失３亿元。")
    assert answers_kind("那曲地区降雪多少次？", "那曲地区自９月以来降雪已达４０余次。")


def test_a_city_jieba_reads_as_one_word_with_its_suffix_is_a_place():
    sentence = "青岛市李沧区楼山乡拥有专利和专利技术１４２项。"
    assert "青岛市" in new_places(sentence, "楼山乡在哪个城市？")
    assert answers_kind("楼山乡在哪个城市？", sentence)
    assert not answers_kind("楼山乡在哪个城市？", "楼山乡拥有专利和专利技术１４２项。")


def test_a_list_or_section_mark_opens_its_sentence():
    """ "1. Introduction" is a heading, "1. Install the package." a step: the mark is no sentence of
    its own (an outline line read "1. [1] Introduction [1]"); a number ending a sentence still ends it."""
    from qa.text.sentences import complete_sentence, split_sentences

    assert split_sentences("1. Introduction") == ["1. Introduction"]
    assert split_sentences("1. Install the package. 2. Run it.") == ["1. Install the package.", " 2. Run it."]
    assert split_sentences("a. First item. b. Second.") == ["a. First item.", " b. Second."]
    assert split_sentences("Set it to version 2. The next step follows.") == [
        "Set it to version 2.",
        " The next step follows.",
    ]
    streamed = complete_sentence("1. Introduction [1]\nThis is")
    assert streamed is not None and streamed.group(1).strip() == "1. Introduction [1]"


@pytest.mark.parametrize(
    "call",
    [
        "from qa.text.facts import new_places; new_places('青岛市李沧区楼山乡', '楼山乡在哪里？')",
        "from qa.query.verify import _negations; _negations('没有提到')",
    ],
)
def test_every_use_of_jieba_loads_it_quietly(call: str):
    """A question reaching jieba first through its part-of-speech tagger (a "where" question, a
    negation) printed "Building prefix dict…" into the command line's answer."""
    command = [sys.executable, "-c", call]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert "prefix dict" not in done.stderr + done.stdout


def test_a_text_asking_two_questions_is_read_as_two_parts():
    from qa.text.sentences import question_parts

    parts = ["--depth 默认是多少？", "调大有什么代价？"]
    assert question_parts("".join(parts)) == parts
    assert question_parts("Is it free? How do I install it?") == ["Is it free?", "How do I install it?"]
    # one question, or question marks that ask nothing of their own: the text whole
    for text in (
        "X 是什么？",
        "Which APT version first supported search patterns such as ?garbage?",
        "My leak report is full of ??? frames. How do I get the names back?",
        "我的程序报错了。怎么办？",
    ):
        assert question_parts(text) == [text]
