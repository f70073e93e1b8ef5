#!/usr/bin/env python3
"""Reads the status page's DOM as headless Chromium rendered it (--dump-dom) and prints
each machine's row of its table, one line each: MAC|ADDRESS|HOST|STAGE|STATE, the cells'
text as a person sees it, and |reset when the row has the page's own reset button (in its
boots cell: a page opened with the reset token). Fails when the table holds any other
element but rows and cells: a client's string that became markup."""
import html.parser
import sys


class Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.in_body = False
        self.rows, self.cell, self.bad = [], None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody" and a.get("id") == "machines":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append({})
        elif self.in_body and tag == "td":
            self.cell = a.get("class", "")
            self.rows[-1][self.cell] = ""
        elif self.in_body and tag == "button" and self.cell == "boots" and a.get("type") == "button":
            self.rows[-1]["reset"] = True
        elif self.in_body:
            self.bad.append(tag)

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_body = False
        elif tag == "td":
            self.cell = None

    def handle_data(self, data):
        if self.in_body and self.cell is not None:
            self.rows[-1][self.cell] += data


def main():
    p = Rows()
    p.feed(open(sys.argv[1], encoding="utf-8").read())
    if p.bad:
        sys.exit(f"page-rows: the table holds markup from a client: {p.bad}")
    for r in p.rows:
        cells = [r.get(k, "") for k in ("mac", "ip", "host", "stage", "state")]
        print("|".join(cells + (["reset"] if r.get("reset") else [])))


main()
