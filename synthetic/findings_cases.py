"""A labelled tree for the findings: every finding planted on purpose, beside look-alikes that must not be.

Link quality is scored against ``truth.csv``; findings need labels of their own, because a finding can be
wrong with every link right (a word in a name is no 变相审批) and right with a link wrong. This module
writes a small Sichuan tree — the province, 广安市 with 广安区 and 前锋区, 资阳市 with 雁江区 — whose lists
share a base of item names (the generator's pool: the bundled real lists' names and their recombinations,
``synthetic.generate.build_name_pool``) carried down with the name noise the generator gives lower
lists, and which raises no finding by construction: same types, codes, bases and statuses everywhere,
every item with its 责任事项, every list dated the same day. 雁江区 publishes only its market bureau's
items: the base itself is a partial list.

On that base each kind is planted ``per_kind`` times at its own places, each plant with look-alikes
that a careless rule would also flag (a devolved item received under a noisy name, a 告知性备案, a county
list of one department missing the other departments' licences …). ``expected_findings.csv`` lists
them: ``present`` = ``yes`` (must be raised), ``no`` (must not), or ``either`` (a side effect whose
verdict depends on the matcher, not on the planted case; not counted). Items are named by source and
row, as ``data/sample/expected_findings.csv`` does. ``bench/eval.py`` scores a run against it
(precision = raised and labelled yes / raised; recall = labelled yes and raised / labelled yes).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synthetic.generate import (
    T_CHECK,
    T_CONFIRM,
    T_GRANT,
    T_LICENCE,
    T_OTHER,
    T_PENALTY,
    T_SERVICE,
    TYPES,
    NameNoise,
    build_name_pool,
    noisy_name,
)

PROVINCE, GUANGAN, ZIYANG = "510000", "511600", "512000"
COUNTIES = {GUANGAN: ("511602", "511603"), ZIYANG: ("512002",)}
PLACES = {
    PROVINCE: "四川省",
    GUANGAN: "广安市",
    ZIYANG: "资阳市",
    "511602": "广安区",
    "511603": "前锋区",
    "512002": "雁江区",
}
LEVELS = {
    PROVINCE: "province",
    GUANGAN: "city",
    ZIYANG: "city",
    "511602": "county",
    "511603": "county",
    "512002": "county",
}
PUBLISHED = "2024-06-30"
HEADER = ("序号", "事项名称", "事项类型", "基本编码", "实施主体", "设定依据", "状态", "责任事项")
LABEL_COLUMNS = (
    "kind",
    "present",
    "jurisdiction_code",
    "source_id",
    "row_no",
    "other_jurisdiction_code",
    "other_source_id",
    "other_row_no",
    "name",
)
MARKET = "市场监管局"
LAW = "【法律】《中华人民共和国行政许可法》第十二条"
RESPONSIBILITY = "1.受理责任。2.审查责任。3.决定责任。4.送达责任。5.事后监管责任。"
NOISE = NameNoise()  # the synthetic tree's own noise: the matcher misses a few, as it would in a run
_APPROVAL_WORDS = (
    "审批",
    "许可",
    "核准",
    "批准",
    "准予",
    "备案",
    "登记",
    "注册",
    "认定",
    "审核",
    "审查",
    "审定",
    "验收",
)


def source_id(code: str) -> str:
    return f"cases-{code}"


@dataclass
class Row:
    name: str
    type_idx: int
    dept: str
    code: str = ""
    basis: str = LAW
    status: str = "保留"
    responsibility: str = RESPONSIBILITY
    key: str = ""  # what labels call the row (the plant's name, before noise)


@dataclass
class Tree:
    """The lists being built (jurisdiction → rows, in file order) and the labels about them."""

    lists: dict[str, list[Row]] = field(default_factory=lambda: {code: [] for code in PLACES})
    labels: list[dict[str, object]] = field(default_factory=list)

    def add(self, code: str, row: Row) -> Row:
        row.key = row.key or row.name
        self.lists[code].append(row)
        return row

    def where(self, code: str, key: str, nth: int = 0) -> int:
        """The row number (physical CSV line) of the ``nth`` row called ``key`` in ``code``'s list."""
        hits = [i for i, r in enumerate(self.lists[code]) if r.key == key]
        return hits[nth] + 2

    def label(
        self, kind: str, present: str, code: str, key: str, *, other: str = "", other_key: str = "", nth: int = 0
    ) -> None:
        self.labels.append(
            {
                "kind": kind,
                "present": present,
                "jurisdiction_code": code,
                "source_id": source_id(code),
                "row_no": self.where(code, key, nth),
                "other_jurisdiction_code": other,
                "other_source_id": source_id(other) if other and other_key else "",
                "other_row_no": self.where(other, other_key) if other and other_key else "",
                "name": key,
            }
        )


def _dept(code: str, stem: str) -> str:
    """A department of ``code``'s list. 资阳市's plants are never the market bureau's: 雁江区's list is
    that bureau's alone, and a planted 资阳市 licence would otherwise also be missing from it."""
    if code == ZIYANG and stem == MARKET:
        stem = "住建局"
    return PLACES[code] + stem


class _Names:
    """Distinct pool names by type, drawn without replacement (a plant never reuses a base name)."""

    def __init__(self, rng: random.Random) -> None:
        seen: set[str] = set()
        self.by_type: dict[int, list[tuple[str, str]]] = {}
        for entry in build_name_pool().entries:
            name = entry.name.strip()
            if not 4 <= len(name) <= 30 or name in seen:
                continue
            if entry.type_idx != T_LICENCE and any(w in name for w in _APPROVAL_WORDS):
                continue  # a base other-power named like an approval would be a finding of its own
            seen.add(name)
            self.by_type.setdefault(entry.type_idx, []).append((name, entry.dept or "市场监管局"))
        for names in self.by_type.values():
            rng.shuffle(names)

    def take(self, type_idx: int) -> tuple[str, str]:
        return self.by_type[type_idx].pop()


def build_cases(seed: int = 0, *, per_kind: int = 20, base: int = 1000) -> Tree:
    """The lists and labels (see the module docstring); deterministic for a seed."""
    rng = random.Random(seed)
    names = _Names(rng)
    tree = Tree()
    types = [T_LICENCE] * 3 + [T_PENALTY] * 3 + [T_CHECK, T_SERVICE, T_CONFIRM, T_GRANT]
    market = MARKET
    for i in range(base):
        type_idx = types[i % len(types)]
        name, stem = names.take(type_idx)
        stem = market if i % 3 == 0 else stem  # a third of every list is one bureau's (see the partial list)
        code = f"511A{i:010d}" if i % 2 == 0 else ""
        for where in PLACES:
            if where == "512002" and stem != market:
                continue  # 雁江区 publishes only its market-regulation bureau's list
            shown = name if where == PROVINCE else noisy_name(name, rng, level=LEVELS[where], noise=NOISE)
            tree.add(where, Row(shown, type_idx, PLACES[where] + stem, code, key=name))
    for plant in _PLANTS:
        for n in range(per_kind):
            plant(tree, names, rng, n)
    return tree


# ---- the plants: each writes its rows and labels ------------------------------------------------------


def _devolved(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """The province devolves to the cities; 广安市 never lists it (权力悬空), 资阳市 receives it under a
    noisy name; a second item is received by 广安市 only further down (广安区: receipt below counts)."""
    name, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(name, T_LICENCE, _dept(PROVINCE, stem), status="下放"))
    tree.add(
        ZIYANG,
        Row(noisy_name(name, rng, level="city", noise=NOISE), T_LICENCE, _dept(ZIYANG, stem), status="承接", key=name),
    )
    tree.label("devolved_not_received", "yes", PROVINCE, name, other=GUANGAN)
    tree.label("devolved_not_received", "no", PROVINCE, name, other=ZIYANG)
    below, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(below, T_LICENCE, _dept(PROVINCE, stem), status="下放"))
    tree.add(ZIYANG, Row(below, T_LICENCE, _dept(ZIYANG, stem), status="承接"))
    tree.add("511602", Row(below, T_LICENCE, _dept("511602", stem), status="承接"))
    tree.label("devolved_not_received", "no", PROVINCE, below, other=GUANGAN)
    # a licence received below with no devolution above
    held, stem = names.take(T_LICENCE)
    for code in (GUANGAN, "511603"):
        tree.add(code, Row(held, T_LICENCE, _dept(code, stem), status="承接" if code == "511603" else "保留"))
    tree.label("received_without_devolution", "yes", "511603", held, other=GUANGAN, other_key=held)
    tree.label("no_upper_basis", "yes", GUANGAN, held)  # a city licence the province does not list
    tree.label("county_missing_city_licence", "yes", GUANGAN, held, other="511602")


def _cancelled(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """The province cancels; 广安市 still lists it, 资阳市 marks it 取消 too."""
    name, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(name, T_LICENCE, _dept(PROVINCE, stem), status="取消"))
    tree.add(GUANGAN, Row(name, T_LICENCE, _dept(GUANGAN, stem)))
    tree.add(ZIYANG, Row(name, T_LICENCE, _dept(ZIYANG, stem), status="取消"))
    tree.label("cancelled_still_listed", "yes", GUANGAN, name, other=PROVINCE, other_key=name)
    tree.label("cancelled_still_listed", "no", ZIYANG, name, other=PROVINCE, other_key=name)
    tree.label("county_missing_city_licence", "either", GUANGAN, name, other="511602")
    tree.label("county_missing_city_licence", "either", GUANGAN, name, other="511603")


def _type_and_code(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """广安市 types a licence 行政确认; 资阳市 writes 许可 (the same type); a code that differs."""
    name, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(name, T_LICENCE, _dept(PROVINCE, stem)))
    tree.add(GUANGAN, Row(name, T_CONFIRM, _dept(GUANGAN, stem)))
    tree.label("type_mismatch", "yes", GUANGAN, name, other=PROVINCE, other_key=name)
    short, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(short, T_LICENCE, _dept(PROVINCE, stem)))
    tree.add(ZIYANG, Row(short, -1, _dept(ZIYANG, stem)))  # -1: written 许可
    tree.label("type_mismatch", "no", ZIYANG, short, other=PROVINCE, other_key=short)
    coded, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(coded, T_LICENCE, _dept(PROVINCE, stem), code=f"511B{n:010d}"))
    tree.add(ZIYANG, Row(coded, T_LICENCE, _dept(ZIYANG, stem), code=f"511C{n:010d}"))
    tree.label("code_mismatch", "yes", ZIYANG, coded, other=PROVINCE, other_key=coded)


def _duplicates(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """广安区 lists one of its items twice; sub-items of one item are no duplicates."""
    twice = tree.lists["511602"][n * 7]
    tree.add("511602", Row(twice.name, twice.type_idx, twice.dept, twice.code, key=twice.key))
    tree.label("duplicate_in_list", "yes", "511602", twice.key, other="511602", other_key=twice.key, nth=1)
    name, stem = names.take(T_LICENCE)
    for code in PLACES:
        if code == "512002":
            continue
        for sub in ("变更", "注销"):
            tree.add(code, Row(f"{name}（{sub}）", T_LICENCE, _dept(code, stem), key=f"{name}（{sub}）"))
    tree.label("duplicate_in_list", "no", "511602", f"{name}（注销）", other="511602", other_key=f"{name}（变更）")


def _unbased(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """前锋区 holds a licence no list above holds; another under a noisy name of the province's."""
    name, stem = names.take(T_LICENCE)
    tree.add("511603", Row(name, T_LICENCE, _dept("511603", stem)))
    tree.label("no_upper_basis", "yes", "511603", name)
    noisy, stem = names.take(T_LICENCE)
    tree.add(PROVINCE, Row(noisy, T_LICENCE, _dept(PROVINCE, stem)))
    tree.add(
        "511603", Row(noisy_name(noisy, rng, level="county", noise=NOISE), T_LICENCE, _dept("511603", stem), key=noisy)
    )
    tree.label("no_upper_basis", "no", "511603", noisy)


def _local_bases(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """A licence resting only on a provincial rule (at both levels that list it), and one on a law too."""
    name, stem = names.take(T_LICENCE)
    subject = "".join(c for c in name if c not in "《》〈〉（）()")[:4]
    local = f"《四川省{subject}管理办法》第{'一二三四五六七八'[n % 8]}条"
    for code in (PROVINCE, GUANGAN, "511602", "511603"):
        tree.add(code, Row(name, T_LICENCE, _dept(code, stem), basis=local))
        tree.label("locally_set_licence", "yes", code, name)
    mixed, stem = names.take(T_LICENCE)
    for code in (PROVINCE, GUANGAN, "511602", "511603"):
        tree.add(code, Row(mixed, T_LICENCE, _dept(code, stem), basis=f"{LAW}；{local}"))
    tree.label("locally_set_licence", "no", PROVINCE, mixed)


def _city_county(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """广安区 lacks one of 广安市's market-regulation licences (市县同权); 雁江区's list is only the market
    bureau's, so 资阳市's other bureaus' licences are not expected of it."""
    name, _ = names.take(T_LICENCE)
    for code in (PROVINCE, GUANGAN, "511603"):
        tree.add(code, Row(name, T_LICENCE, _dept(code, MARKET)))
    tree.label("county_missing_city_licence", "yes", GUANGAN, name, other="511602")
    other, stem = names.take(T_LICENCE)
    for code in (PROVINCE, ZIYANG):
        tree.add(code, Row(other, T_LICENCE, _dept(code, stem)))
    tree.label("county_missing_city_licence", "no", ZIYANG, other, other="512002")


def _disguised(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """变相审批 on evidence, and the filings that are only filings."""
    # the upper levels list it as a licence, 广安区 as another power
    name, stem = names.take(T_LICENCE)
    relabelled = name + "登记" if not name.endswith(("登记", "备案")) else name
    for code in (PROVINCE, GUANGAN, "511603"):
        tree.add(code, Row(relabelled, T_LICENCE, _dept(code, stem)))
    tree.add("511602", Row(relabelled, T_OTHER, _dept("511602", stem)))
    tree.label("disguised_approval", "yes", "511602", relabelled)
    for upper in (PROVINCE, GUANGAN):
        tree.label("type_mismatch", "yes", "511602", relabelled, other=upper, other_key=relabelled)
    # the province cancelled the licence; 资阳市 keeps it as a filing (明放暗不放)
    core, stem = names.take(T_SERVICE)
    tree.add(PROVINCE, Row(f"{core}登记许可", T_LICENCE, _dept(PROVINCE, stem), status="取消"))
    tree.add(ZIYANG, Row(f"{core}备案", T_OTHER, _dept(ZIYANG, stem)))
    tree.label("disguised_approval", "yes", ZIYANG, f"{core}备案")
    for kind in ("cancelled_still_listed", "type_mismatch"):  # if the matcher links the two names
        tree.label(kind, "either", ZIYANG, f"{core}备案", other=PROVINCE, other_key=f"{core}登记许可")
    # 审批 in the name of another power
    said, stem = names.take(T_SERVICE)
    tree.add("511603", Row(f"{said}审批", T_OTHER, _dept("511603", stem)))
    tree.label("disguised_approval", "yes", "511603", f"{said}审批")
    # look-alikes: a filing at every level, a 告知性 filing, a licence named 登记
    for type_idx, suffix in ((T_OTHER, "备案"), (T_OTHER, "备案（告知性）"), (T_LICENCE, "登记")):
        plain, stem = names.take(type_idx if type_idx != T_OTHER else T_SERVICE)
        for code in (PROVINCE, GUANGAN, "511602", "511603"):
            tree.add(code, Row(plain + suffix, type_idx, _dept(code, stem)))
        tree.label("disguised_approval", "no", "511602", plain + suffix)


def _supervision(tree: Tree, names: _Names, rng: random.Random, n: int) -> None:
    """广安市 devolves an item without naming who supervises it, and one with its 责任事项."""
    for responsibility, present in (("无", "yes"), (RESPONSIBILITY, "no")):
        name, stem = names.take(T_LICENCE)
        tree.add(PROVINCE, Row(name, T_LICENCE, _dept(PROVINCE, stem)))
        tree.add(GUANGAN, Row(name, T_LICENCE, _dept(GUANGAN, stem), status="下放", responsibility=responsibility))
        for county in COUNTIES[GUANGAN]:
            tree.add(county, Row(name, T_LICENCE, _dept(county, stem), status="承接"))
        tree.label("devolved_without_supervision", present, GUANGAN, name)
        tree.label("received_without_devolution", "no", "511602", name, other=GUANGAN, other_key=name)


_PLANTS = (
    _devolved,
    _cancelled,
    _type_and_code,
    _duplicates,
    _unbased,
    _local_bases,
    _city_county,
    _disguised,
    _supervision,
)


def _cells(tree: Tree, code: str) -> Iterator[list[str]]:
    for i, row in enumerate(tree.lists[code], start=1):
        power_type = "许可" if row.type_idx == -1 else TYPES[row.type_idx]
        yield [str(i), row.name, power_type, row.code, row.dept, row.basis, row.status, row.responsibility]


def write_cases(folder: Path, seed: int = 0, *, per_kind: int = 20) -> Path:
    """Write the lists (UTF-8 CSV), ``sources.toml`` and ``expected_findings.csv``; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    tree = build_cases(seed, per_kind=per_kind)
    manifest = ["# Labelled findings cases (synthetic.findings_cases)", "[run]", 'name = "findings-cases"', ""]
    for code, place in PLACES.items():
        path = folder / f"{code}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(_cells(tree, code))
        manifest += [
            "[[source]]",
            f'id = "{source_id(code)}"',
            f'jurisdiction = "{code}"',
            f'path = "{path.name}"',
            f"published = {PUBLISHED}",
            f'title = "{place}权责清单（标注示例）"',
            "",
        ]
    (folder / "sources.toml").write_text("\n".join(manifest), encoding="utf-8")
    with (folder / "expected_findings.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        writer.writerows(tree.labels)
    return folder / "sources.toml"
