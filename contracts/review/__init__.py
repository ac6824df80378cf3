"""The contract reviewer: text extraction, clause splitting, a rule library kept as data and a small
classifier shipped with the repository. Pure Python (no Django models): ``contracts.services`` stores what
``engine.review`` returns.

- ``extract``    .docx / .pdf / .txt (utf-8, utf-8-sig, gb18030, utf-16 with BOM) or pasted text → plain text
- ``clauses``    plain text → numbered clauses (第X条, 一、, （一）, 1.1, Article 1, (a) …)
- ``rules``      ``data/rules.yaml``: patterns, severity, explanation and fairer wording in zh and en
- ``amounts``    money and ratios in the text (liquidated damages against the contract value)
- ``features``   jieba words + bigrams and character n-grams (shared by training and prediction)
- ``classifier`` TF-IDF + one logistic regression per category, numbers only (``data/classifier.npz``)
- ``train``      ``python -m contracts.review.train`` fits it on the train split of ``data/clauses.jsonl``
- ``engine``     everything together: ``review(text) -> Result`` with findings, highest risk first
"""
