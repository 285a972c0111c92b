"""What kind of fact a question asks for, and whether a sentence holds one.

"When exactly", "how much money" and "in which place" are not answered by a sentence that merely
names the same subject. Retrieval uses this to judge support, answering to choose sentences.
What it does not do: weigh it (query/retrieval.py decides what a missing fact costs).
"""

from __future__ import annotations

import re
from functools import lru_cache

from qa.text.language import CJK
from qa.text.normalize import normalize
from qa.text.numerals import NUMERAL_CHARS
from qa.text.sentences import opens_sentence
from qa.text.terms import is_english_word, quiet_jieba

# Measure words: what a count is counted in ("几张光碟", "43个国家", "多少所学校").
_MEASURE = "(?:[个次项年家位名种张台所条块本篇份只件门座套批届期步层倍天周秒]|小时|分钟|星期|个月)"
_OTHER_QUESTION = re.compile(r"什么|哪些|哪个|哪位|哪种|谁|怎样|怎么|如何|为什么")
_ASKS = {
    "sum": re.compile(
        r"(资金|出资|金额|经费|费用|捐款|投资|拨款|筹集).{0,6}多少|多少(钱|资金|经费)"
        r"|how much (money|funding)|pledged?\b"
        r"|\bhow much\b.{0,60}\b(cost|charge|pay)|\bwhat (is|are) the (price|cost|fee)"
    ),
    "date": re.compile(r"哪一天|哪天|几月|什么日期|具体日期|which day|what date|what day"),
    # "When" asks only as the question word: "…runs when the interface comes up" asks no time.
    "time": re.compile(
        r"哪一年|哪年|什么时间|什么时候|何时|which year|what year|^\W*(and |so |but )?when\b|\bsince when\b"
        r"|\bwhen (did|was|were|is|are|will|does|do|can|should|would|has|have)\b"
    ),
    # not how often; a period, a timeout or a lifetime is a length of time too ("保留期限", "what is
    # the retention period")
    "duration": re.compile(
        r"多长时间(?!.{0,6}一次)|多久(?!.{0,6}一次)|多少时间|期限|有效期|时限|how long\b"
        r"|\b(retention|grace|waiting|trial|expiry|lease) (period|time)\b|\b(timeout|time-out|lifetime)\b"
    ),
    # How often: an interval or a rate ("每个小时运行一次", "every two months", "daily").
    "frequency": re.compile(r"(多久|多长时间|隔多久)(?=.{0,6}一次)|每隔多久|多频繁|how (often|frequently)\b"),
    "place": re.compile(r"哪个城市|哪座城市|哪个地方|在哪里|在哪儿|设在哪|\bwhere\b|which city"),
    # Manuals: which folder or configuration file, which command or program, which key. (Not 什么文件:
    # a 文件 is as often a document, "通过了什么文件" -> 《昆明宣言》; but what goes in a 文件 is a file.)
    "path": re.compile(
        r"(哪个|什么|哪一?个)(目录|文件夹|配置文件|路径)|(存放|保存|存储|放|写)在哪|(哪一?个|什么)文件(里|中|内)"
        r"|(目录|文件夹|配置文件|路径|文件名)(叫|是|为)(什么|哪个)(?=[?？。，,呢]|$)"
        r"|\b(which|what) (file|directory|folder|path)\b"
        r"(?!\s+(extension|type|format|size|system|permission|mode))"
        r"|\bwhere\b.*\b(stored|kept|saved|located)\b"
    ),
    "name": re.compile(
        r"(哪个|什么|哪条|哪一?个|哪款)(命令|指令|程序|工具|软件包|软件|包|服务|守护进程|选项|参数|设置|变量)"
        r"|(命令|指令|程序|工具|软件包|选项|参数)(叫|是|为)(什么|哪个)(?=[?？。，,呢]|$)"
        r"|\b(which|what) (command|program|tool|package|software|daemon|service|option|setting"
        r"|parameter|variable|directive)\b"
    ),
    # Who made, runs or owns something: a person or an organisation answers ("周国梅", "the
    # Skolelinux project", "the OpenJS Foundation"), not a sentence about the thing made.
    "who": re.compile(
        r"谁(写|创|开发|维护|发明|领导|负责|拥有|发起)|(作者|创始人|开发者|维护者|负责人)是谁"
        r"|哪(家|个)(公司|机构|组织|厂商)"
        r"|\bwho (wrote|founded|started|created|maintains|owns|developed|invented|leads|runs|made)\b"
        r"|\bwhich (company|organi[sz]ation|vendor|foundation)\b"
    ),
    "key": re.compile(r"(哪个|什么|哪一?个)(键|按键|快捷键)|\bwhich key\b"),
    # A time of day: "每天几点运行", "at what time".
    "clock": re.compile(r"几点|什么时刻|\b(at )?what time\b"),
    # A labelled value: a password, a user name, a cipher or a version is given by text that says
    # which ("the default password is …", "版本 5.28", "Debian Buster"), not by any sentence about
    # the same program.
    "password": re.compile(
        r"(密码|口令)(是|为|叫)?(什么|多少|哪个)|什么(密码|口令)"
        r"|\b(what|which) is the (default |initial )?(password|passphrase)\b"
        r"|\b(default|initial) (password|passphrase)\b"
    ),
    "username": re.compile(
        r"(用户名|帐号|账号|登录名)(是|为|叫)?(什么|哪个)|什么(用户名|帐号|账号|登录名)"
        r"|\b(what|which) is the (default |initial )?(user ?name|login)\b"
        r"|\b(default|initial) (user ?name|login)\b"
    ),
    "port": re.compile(
        r"(哪个|什么|哪一?个)\s*([a-z]+\s*)?端口|端口号?(是|为)(多少|什么|哪个)|\b(which|what) (\w+ )?port\b"
    ),
    "cipher": re.compile(r"(哪种|什么|哪个)(加密)?算法|\b(which|what) (cipher|algorithm|encryption)\b"),
    "version": re.compile(
        r"(哪个|什么|哪一?个)版本|版本(号)?(是|为)(多少|什么|哪个)|\b(which|what) version\b"
    ),
    "number": re.compile(
        rf"多少|(?<!哪)几(?={_MEASURE}|[十百千万])|how (many|much)|what (share|percentage)"
        r"|(maximum|minimum|largest|smallest) number"
    ),
}
_DATE = (
    rf"\d{{1,2}}\s*[月日号]|[{NUMERAL_CHARS}]{{1,3}}[月日号]"
    r"|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
)
_HOLDS = {
    "sum": re.compile(rf"[\d.{NUMERAL_CHARS}]+\s*(美元|欧元|元)|\$\s*\d|\d\s*(dollars|usd|yuan)"),
    "date": re.compile(_DATE),
    # A length of time: a number with its unit ("3 小时", "两周", "a few minutes").
    # A configuration file gives one as a number after a key that names it ("default-lease-time
    # 600;", "Timeout 300"), its unit the program's; "release 12" and "timestamp" name none.
    "duration": re.compile(
        rf"[\d{NUMERAL_CHARS}]+\s*(秒|分钟|小时|钟头|天|周|星期|个月|年|个?工作日)"
        r"|\b(\d+|an?|one|two|three|few|several)\s+((business|working) )?"
        r"(seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b"
        r"|\b[a-z_-]*(time(?!stamp)|timeout|(?<!re)lease|interval|ttl|expire|expiry|delay)[a-z_-]*\s*[=:]?\s*\d+"
    ),
    "time": re.compile(rf"(?<![\d.])\d{{4}}(?![\d.])|{_DATE}"),
    "frequency": re.compile(
        rf"每(个|隔)?[\d{NUMERAL_CHARS}两几]*\s*个?(秒|分钟|小时|钟头|天|日|周|星期|月|年|次)|[一两\d]+(天|周|月|年)一次"
        r"|\b(hourly|daily|nightly|weekly|monthly|yearly|annually)\b"
        r"|\bevery\s+(\d+|\w+\s+)?(seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?)\b"
        r"|\b(once|twice|\d+ times) (a|an|per|every)\b|@(hourly|daily|weekly|monthly|yearly)"
    ),
    # A digit not inside a name like COP15, or a numeral with a measure word; 一是…四是 counts items.
    # Not an address or a version: 10.0.0.0/8 and 1.2.3 name things, they count nothing.
    # A lone 一 before a measure word is the article "a" ("是一个基于 Debian 的发行版"), no count.
    "number": re.compile(
        rf"(?<![a-z\d./])\d(?!\d*(?:\.\d+){{2}}|\d*/\d)"
        rf"|(?:[{NUMERAL_CHARS}]{{2,}}|(?!一)[{NUMERAL_CHARS}])(?:{_MEASURE}|大|方面|国|是)"
        # English counts in words; "one" only where it counts ("exactly one"), not "one can use"
        r"|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
        r"|hundred|thousand|million|dozen|both)\b|\b(exactly|only|just|single|at (least|most))( be)? one\b"
    ),
    "clock": re.compile(
        rf"\d{{1,2}}\s*[:：]\s*\d{{2}}|[\d{NUMERAL_CHARS}]{{1,3}}\s*点(?!击)"
        r"|\b\d{1,2}\s*(am|pm|a\.m\.|p\.m\.|o'?clock)|\b(midnight|noon)\b|午夜|凌晨|中午|半夜|整点"
    ),
    "port": re.compile(r"(?<![\d:])(?<!\d\.)\d{2,5}(?!\d|\.\d)"),  # a port number, not part of an address
    "password": re.compile(r"密码|口令|password|passphrase|passwd"),
    "username": re.compile(r"用户名|帐号|账号|登录名|\buser|\blogin|\baccount"),
    "cipher": re.compile(r"算法|加密|cipher|algorithm|encrypt"),
}
_DIGITS = re.compile(r"\d+")
_TITLE = re.compile(r"《[^》]*》")


# A question for a difference, a reason or a meaning is answered in prose: a line of code quoting
# the commands it names shows them, it explains nothing ("dpkg -r 和 dpkg -P 有什么区别？").
_EXPLANATION = re.compile(
    r"区别|不同|差别|差异|为什么|为何|什么意思|含义|意味|\b(difference|differ|why|mean|means|meaning)\b"
)


def asks_explanation(question: str) -> bool:
    """Whether the question asks why, what differs or what something means, not for a command,
    program or path ("用什么命令查看…为什么…" asks for a command)."""
    text = normalize(question)
    return bool(_EXPLANATION.search(text)) and not {"name", "path"} & set(asked_facts(question))


@lru_cache(maxsize=1024)
def asked_facts(question: str) -> tuple[str, ...]:
    """The kinds of fact the question asks for (the keys of _ASKS: sum, date, time, duration,
    frequency, place, path, name, who, key, …), or none. Kept for the last questions asked:
    answering asks it of every candidate sentence."""
    text = normalize(question)
    asks = [kind for kind, pattern in _ASKS.items() if pattern.search(text)]
    counted_otherwise = {"sum", "date", "time", "duration", "frequency"} & set(asks)
    if "number" in asks and (counted_otherwise or _OTHER_QUESTION.search(text)):
        asks.remove("number")  # "how much money" is a sum; "几位领导人…设立什么" asks what, not how many
    return tuple(asks)


def holds_facts(facts: tuple[str, ...] | list[str], sentence: str, question: str) -> bool:
    """Whether the sentence holds a fact of every asked kind; numbers the question itself names
    do not count."""
    if not facts:
        return True
    asked = normalize(question)
    # names are told by their capitals, before normalizing lower-cases them
    names = _new_proper_names(sentence, asked) if "version" in facts else []
    agents = _new_agents(sentence, asked) if "who" in facts else []
    sentence = normalize(sentence)
    for number in _DIGITS.findall(asked):
        sentence = sentence.replace(number, " ")
    return all(
        (kind == "version" and bool(names))
        or (bool(agents) if kind == "who" else _holds(kind, sentence, asked))
        for kind in facts
    )


def answers_kind(question: str, sentence: str) -> bool:
    """Whether the sentence holds the kind of fact the question asks for (a date, a sum, a place)."""
    return holds_facts(asked_facts(question), sentence, question)


def names_new(question: str, sentence: str) -> bool:
    """Whether the sentence names something the question does not: a command, option, program,
    path or file, what a manual's answer gives. A sentence naming nothing new may only set up its
    topic ("But there are tools that make it simpler to configure netfilter."); the next one
    answers ("fwbuilder is among the best of them."). Numbers do not count: prose sentences hold
    them in passing ("三大挑战", "未来五年")."""
    return holds_facts(("name",), sentence, question) or holds_facts(("path",), sentence, question)


# Where a manual's answer lives: a path, a URL or a file name is the place "在哪里" asks for.
_LOCATION = re.compile(
    r"(?<![a-z0-9_/])(?:~|\.{1,2})?(?:/[a-z0-9_.@~+-]+)+/?|\bhttps?://|\bwww\.|\b[a-z]:\\\\", re.IGNORECASE
)


# A question about an address or a version is answered by one ("默认 IP 是多少", "which version").
_ASKS_ADDRESS = re.compile(r"\bip\b|地址|网段|子网|掩码|版本|\b(address|subnet|netmask|network|version)")
_ADDRESS = re.compile(r"\d+(?:\.\d+){2,}(?:/\d+)?|\d+\.\d+/\d+")


# A name a manual gives a command, program, package or option: a Latin word, often with digits or
# -_.+, or an option such as -y or --assume-yes.
_NAME = re.compile(r"(?<![a-z0-9_.-])-{0,2}(?:[a-z][a-z0-9_.+-]*[a-z0-9]|[a-z](?![a-z0-9]))")
_FILE = re.compile(r"(?<![a-z0-9_/])[a-z0-9_.-]+\.(?:conf|cfg|list|ini|log|txt|sh|py|d|json|ya?ml|xml)\b")
_KEY = re.compile(r"键|\b(ctrl|alt|shift|enter|esc|tab|space|f\d{1,2})\b|[“‘\"'][a-z0-9+\-]['\"’”]")


_DAY = re.compile(r"(\d{2,4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*[日号]")


def _holds(kind: str, sentence: str, question: str) -> bool:
    if kind == "path":
        return _names_new(_LOCATION.findall(sentence) + _FILE.findall(sentence), question)
    if kind == "name":  # in English text a name is what is not an ordinary English word
        names = _NAME.findall(sentence)
        if not CJK.search(sentence):
            names = [name for name in names if not name.isalpha() or not is_english_word(name)]
        return _names_new(names, question)
    if kind == "key":
        return bool(_KEY.search(sentence))
    if kind == "version":  # a number (5.28, Debian 12); a release's name is found before normalizing
        return bool(re.search(r"\d", sentence))
    if kind == "number" and _ASKS_ADDRESS.search(question) and _ADDRESS.search(sentence):
        return True
    if kind == "number":  # a day of a month counts nothing ("据新华社12月30日电" gives no loss)
        sentence = _DAY.sub(" ", sentence)
    if kind == "place":
        return bool(new_places(sentence, question)) or _names_new(_LOCATION.findall(sentence), question)
    return bool(_HOLDS[kind].search(sentence))


# A product and its release's name: "Debian Buster", "Windows Vista" (the second word is the release).
_RELEASE = re.compile(r"\b[A-Z][A-Za-z]+ (?=([A-Z][a-z]+)\b)")


def _new_proper_names(sentence: str, question: str) -> list[str]:
    """Release names the question does not use: a release is often named, not numbered ("Since
    Debian Buster, …"); a capitalised word alone is any name ("the Linux kernel")."""
    return [word for word in _RELEASE.findall(sentence) if word.lower() not in question]


_NAME_TAGS = {"nr", "nrt", "nrfg", "nt", "nz"}  # jieba: people, organisations, other proper names
_AGENT = re.compile(
    r"(公司|组织|机构|委员会|团队|基金会|大学)$"
    r"|^(team|foundation|community|committee|company|maintainer|developer|inc|ltd|corporation|university)s?$"
)


def _new_agents(sentence: str, question: str) -> list[str]:
    """People and organisations a sentence names that the question does not: names jieba tags as
    such, runs of capitalised Latin words that do not open a sentence or a line ("Raphaël
    Hertzog", "OpenJS Foundation"), and words for a body of people ("团队", "foundation")."""
    import jieba.posseg

    quiet_jieba()
    found = [
        w.word
        for w in jieba.posseg.cut(sentence)
        if (w.flag in _NAME_TAGS and CJK.search(w.word)) or _AGENT.search(w.word.lower())
    ]  # jieba's tag on a Latin word is its dictionary's ("C++" is nz), no name
    names = _CAPITALISED.finditer(sentence)
    found += [name.group(0) for name in names if not opens_sentence(sentence[: name.start()])]
    return [word for word in found if word.lower() not in question]


# A person's or a body's full name: capitalised words in a row ("Julian Seward", "OpenJS
# Foundation"); one capitalised word in a manual is as often a program ("GCC", "Memcheck").
_CAPITALISED = re.compile(r"(?<![\w.-])[A-Z][\w'’-]+(?:[ \t]+[A-Z][\w'’-]+)+")


def _names_new(found: list[str], question: str) -> bool:
    """Whether one of the things found in a sentence is not already in the question: a sentence
    that only repeats the question's path or command answers nothing."""
    return any(thing not in question for thing in found)


# What a building or ground is called by ("在人民大会堂举行", "在首都体育馆"): jieba tags such a name
# an organisation's or leaves it a noun, not a place.
_VENUE = ("堂", "馆", "厅", "场", "中心", "大厦", "宫", "饭店", "酒店", "公园", "楼")  # 宾馆, 广场 too


def new_places(sentence: str, question: str) -> list[str]:
    """Place names the question does not name, set off as places: after 在/于, in brackets, or
    before 市/省/县 or ending in one ("青岛市" is one word to jieba; it tags too many words `ns` to
    trust the tag alone)."""
    import jieba.posseg

    quiet_jieba()  # its dictionary, loaded without printing "Building prefix dict…"
    words = list(jieba.posseg.cut(_TITLE.sub("《》", sentence)))
    places = []
    for i, word in enumerate(words):
        before = words[i - 1].word[-1:] if i else ""
        after = words[i + 1].word[:1] if i + 1 < len(words) else ""
        set_off = (
            before in ("在", "于", "（", "(")
            or after in ("市", "省", "县", "）", ")")
            or (len(word.word) > 2 and word.word.endswith(("市", "省", "县")))
        )
        venue = before in ("在", "于") and len(word.word) > 2 and word.word.endswith(_VENUE)
        if ((word.flag == "ns" and set_off) or venue) and word.word not in question:
            places.append(word.word)
    return places
