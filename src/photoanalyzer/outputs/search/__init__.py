"""`photoanalyze search`: photos by text, by example and by facts, over the stored CLIP
embeddings.

    query.py    QUERY words -> terms (sign, weight, text or image), and their weighted sum
    filters.py  the filter options -> a catalog.FileFilter, each bad value naming its option
    matrix.py   the derived, memory-mapped matrix of normalized embeddings beside the catalog,
                rebuilt whenever the catalog's change stamp moved; chunked cosine scores
    engine.py   one search: filters, query vector, scores, ranking, the facts of each result
    output.py   score<TAB>path lines, bare paths, JSON, a self-contained HTML page

The query encoder (ml/query_encoder.py) is imported only when a query needs encoding, so a
pure filter query or an indexed example image never imports torch."""
