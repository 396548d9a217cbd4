"""What the catalog becomes for people: text, records, search, pages, sidecars.

terminal.py      the run summary and status as text
export.py        JSON Lines and CSV records
search/          photoanalyze search: query language, filters, matrix, ranking, output
html_report/     photoanalyze report: the static HTML report
xmp_sidecars.py  photoanalyze xmp write: our labels merged into sidecars
labels.py        scene labels as people write them (without the article)
"""
