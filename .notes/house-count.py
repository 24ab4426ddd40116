"""Count the public API of a crate from rustdoc JSON (nightly, --output-format json).

Walks from the crate root through public modules; counts every local item reachable by a
public path once: modules, structs, enums, traits, functions, constants, statics, type
aliases, macros; plus associated items: public fields, enum variants, public inherent
methods/consts, trait items. A `use` of an item of another crate counts as one item; a glob
re-export of a local module expands to its items.
"""
import json, sys
from collections import Counter

def count(path):
    d = json.load(open(path))
    idx = d["index"]
    seen = set(); kinds = Counter(); foreign = 0
    def kind(it): return next(iter(it["inner"]))
    def visit(iid):
        nonlocal foreign
        iid = str(iid)
        if iid in seen: return
        seen.add(iid)
        it = idx.get(iid)
        if it is None:
            foreign += 1; return
        k = kind(it); inner = it["inner"][k]
        if k == "use":
            tgt = inner.get("id")
            if tgt is None or str(tgt) not in idx or idx[str(tgt)]["crate_id"] != 0:
                kinds["re-export"] += 1; return
            tit = idx[str(tgt)]
            if inner.get("is_glob"):
                for c in tit["inner"]["module"]["items"]:
                    if idx.get(str(c), {}).get("visibility") == "public": visit(c)
                return
            visit(tgt); return
        if it["crate_id"] != 0: foreign += 1; return
        kinds[k] += 1
        if k == "module":
            for c in inner["items"]:
                if idx.get(str(c), {}).get("visibility") == "public" or idx.get(str(c), {}).get("visibility") == "default": visit(c)
        elif k == "struct":
            sk = inner["kind"]
            if isinstance(sk, dict) and "plain" in sk:
                for f in sk["plain"]["fields"]:
                    if idx[str(f)]["visibility"] == "public": visit(f)
            for imp in inner["impls"]: visit_impl(imp)
        elif k == "enum":
            for v in inner["variants"]: visit(v)
            for imp in inner["impls"]: visit_impl(imp)
        elif k == "variant":
            vk = inner["kind"]
            if isinstance(vk, dict) and "struct" in vk:
                for f in vk["struct"]["fields"]: visit(f)
        elif k == "trait":
            for c in inner["items"]: visit(c)
    def visit_impl(imp):
        it = idx[str(imp)]; inner = it["inner"]["impl"]
        if inner.get("trait") is not None or inner.get("is_synthetic") or inner.get("blanket_impl"): return
        for c in inner["items"]:
            if idx[str(c)]["visibility"] == "public": visit(c)
    visit(d["root"])
    return sum(kinds.values()), kinds
for p in sys.argv[1:]:
    n, k = count(p)
    print(f"{p.split('/')[-1][:-5]}\t{n}\t" + ", ".join(f"{a} {b}" for a, b in sorted(k.items())))
