"""`photoanalyze serve`: a local web application over the catalog (Starlette, run by
uvicorn; docs/serve.md), read-mostly: search with the query language and filters of
`photoanalyze search`, photo pages, and the HTML report's pages served live.

    app.py          the routes, their handlers, the error pages; make_app()
    guard.py        who may ask: loopback Host names, the token off loopback, same-origin
                    POSTs, and the security headers on every answer
    forms.py        the search page's query string -> outputs/search's SearchRequest
    views.py        a photo page's content: facts, scenes, boxes, near-duplicates
    files.py        thumbnails and indexed originals, found by file id, opened safely
    uploads.py      example pictures: bounded bodies, encoded once, kept as vectors
    report_live.py  the report's pages (html_report's data and templates), rendered per
                    request and gathered again when the catalog changed
"""
