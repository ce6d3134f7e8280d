#!/usr/bin/env python3
"""promtext.py - a strict checker of the Prometheus text exposition format
(0.0.4), standing in for `promtool check metrics` where Prometheus is not
installed. Reads the text on stdin; prints each problem and exits 1, or exits 0.

    promtext.py check < metrics.txt
    promtext.py sum NAME [LABEL=VALUE ...] < metrics.txt   sum of matching samples
    promtext.py by NAME LABEL < metrics.txt                 "value<TAB>sum" per label value

Checked: metric and label names, label value escapes, sample values, one HELP
and one TYPE per family before its samples, families not interleaved, no
duplicate series, counters named *_total, histograms with cumulative buckets,
a +Inf bucket equal to _count, and a _sum."""
import math
import re
import sys
from collections import OrderedDict

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def parse_value(s):
    if s in ('+Inf', 'Inf'):
        return math.inf
    if s == '-Inf':
        return -math.inf
    if s == 'NaN':
        return math.nan
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', s):
        raise ValueError('bad value %r' % s)
    return float(s)


def parse_labels(s, i, errs, ln):
    """s[i] == '{'; returns (labels, index after '}')."""
    labels = OrderedDict()
    i += 1
    while True:
        if i < len(s) and s[i] == '}':
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            errs.append('line %d: bad label name at column %d' % (ln, i + 1))
            return None, len(s)
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            errs.append('line %d: expected =" after label %s' % (ln, name))
            return None, len(s)
        i += 2
        val = []
        while True:
            if i >= len(s):
                errs.append('line %d: unterminated label value' % ln)
                return None, len(s)
            c = s[i]
            if c == '\\':
                nxt = s[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    errs.append('line %d: bad escape \\%s in label %s' % (ln, nxt, name))
                val.append({'\\': '\\', '"': '"', 'n': '\n'}.get(nxt, nxt))
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                errs.append('line %d: raw newline in label value' % ln)
                i += 1
            else:
                val.append(c)
                i += 1
        if name in labels:
            errs.append('line %d: label %s repeated' % (ln, name))
        labels[name] = ''.join(val)
        if s[i:i + 1] == ',':
            i += 1
        elif s[i:i + 1] != '}':
            errs.append('line %d: expected , or } after label %s' % (ln, name))
            return None, len(s)


def family_of(name, types):
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ('histogram', 'summary'):
            return name[:-len(suf)]
    return name


def parse(text):
    errs = []
    types, helps, samples, seen_series = {}, {}, [], set()
    done, current = set(), None
    if text and not text.endswith('\n'):
        errs.append('the text does not end with a newline')
    for ln, line in enumerate(text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'), 1):
        if line.strip() == '':
            continue
        if line.startswith('#'):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ('HELP', 'TYPE'):
                if len(parts) < 3 or not NAME.fullmatch(parts[2]):
                    errs.append('line %d: %s without a valid metric name' % (ln, parts[1]))
                    continue
                fam = parts[2]
                if fam in done:
                    errs.append('line %d: %s for %s after its samples ended' % (ln, parts[1], fam))
                if parts[1] == 'TYPE':
                    t = parts[3] if len(parts) > 3 else ''
                    if t not in TYPES:
                        errs.append('line %d: unknown type %r' % (ln, t))
                    if fam in types:
                        errs.append('line %d: second TYPE for %s' % (ln, fam))
                    if any(family_of(s[0], types) == fam for s in samples):
                        errs.append('line %d: TYPE for %s after its samples' % (ln, fam))
                    types[fam] = t
                    if t == 'counter' and not fam.endswith('_total'):
                        errs.append('line %d: counter %s is not named *_total' % (ln, fam))
                else:
                    if fam in helps:
                        errs.append('line %d: second HELP for %s' % (ln, fam))
                    h = parts[3] if len(parts) > 3 else ''
                    if re.search(r'\\[^\\n]', h.replace('\\\\', '')):
                        errs.append('line %d: bad escape in HELP' % ln)
                    helps[fam] = h
            continue
        m = NAME.match(line)
        if not m:
            errs.append('line %d: no metric name' % ln)
            continue
        name, i = m.group(0), m.end()
        labels = OrderedDict()
        if line[i:i + 1] == '{':
            labels, i = parse_labels(line, i, errs, ln)
            if labels is None:
                continue
        rest = line[i:]
        if not rest.startswith(' '):
            errs.append('line %d: expected a space before the value' % ln)
            continue
        fields = rest.split()
        if len(fields) not in (1, 2):
            errs.append('line %d: expected VALUE [TIMESTAMP]' % ln)
            continue
        try:
            value = parse_value(fields[0])
        except ValueError as e:
            errs.append('line %d: %s' % (ln, e))
            continue
        fam = family_of(name, types)
        if fam not in types:
            errs.append('line %d: sample %s without a TYPE line' % (ln, name))
        if fam != current:
            if current is not None:
                done.add(current)
            if fam in done:
                errs.append('line %d: samples of %s are not together' % (ln, fam))
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            errs.append('line %d: duplicate series %s%s' % (ln, name, dict(labels)))
        seen_series.add(key)
        if types.get(fam) == 'counter' and value < 0:
            errs.append('line %d: negative counter' % ln)
        samples.append((name, labels, value))
    # histograms
    for fam, t in types.items():
        if t != 'histogram':
            continue
        groups = {}
        for name, labels, value in samples:
            if family_of(name, types) != fam:
                continue
            base = tuple(sorted((k, v) for k, v in labels.items() if k != 'le'))
            g = groups.setdefault(base, {'buckets': [], 'sum': None, 'count': None})
            if name == fam + '_bucket':
                if 'le' not in labels:
                    errs.append('%s_bucket without le' % fam)
                    continue
                g['buckets'].append((parse_value(labels['le']), value))
            elif name == fam + '_sum':
                g['sum'] = value
            elif name == fam + '_count':
                g['count'] = value
            else:
                errs.append('histogram %s has a sample %s' % (fam, name))
        for base, g in groups.items():
            b = g['buckets']
            if not b or b[-1][0] != math.inf:
                errs.append('histogram %s%s: no +Inf bucket last' % (fam, dict(base)))
                continue
            if [x[0] for x in b] != sorted(x[0] for x in b):
                errs.append('histogram %s%s: buckets out of order' % (fam, dict(base)))
            if any(b[k][1] < b[k - 1][1] for k in range(1, len(b))):
                errs.append('histogram %s%s: buckets not cumulative' % (fam, dict(base)))
            if g['count'] is None or g['sum'] is None:
                errs.append('histogram %s%s: missing _sum or _count' % (fam, dict(base)))
            elif g['count'] != b[-1][1]:
                errs.append('histogram %s%s: _count %s != +Inf bucket %s' % (fam, dict(base), g['count'], b[-1][1]))
    return errs, samples


def main():
    text = sys.stdin.read()
    errs, samples = parse(text)
    cmd = sys.argv[1] if len(sys.argv) > 1 else 'check'
    if cmd == 'check':
        for e in errs:
            print(e)
        if not errs:
            print('%d samples, format ok' % len(samples))
        return 1 if errs else 0
    if errs:
        print('\n'.join(errs), file=sys.stderr)
        return 1
    if cmd == 'sum':
        want = dict(a.split('=', 1) for a in sys.argv[3:])
        total = sum(v for n, l, v in samples if n == sys.argv[2] and all(l.get(k) == x for k, x in want.items()))
        print('%g' % total)
        return 0
    if cmd == 'by':
        acc = OrderedDict()
        for n, l, v in samples:
            if n == sys.argv[2]:
                acc[l.get(sys.argv[3], '')] = acc.get(l.get(sys.argv[3], ''), 0) + v
        for k, v in acc.items():
            print('%s\t%g' % (k, v))
        return 0
    print('unknown command %s' % cmd, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
