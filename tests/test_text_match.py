"""How much of a query a picture's own text holds (store/search_index.py, held_shares): each word weighed by
its rarity among the matching rows and in English (store/english_words.py). The searches that rank by it
through the API are tested in test_search.py."""

from __future__ import annotations

import pytest

from conftest import stack_free
from reverie.store import english_words
from reverie.store.search_index import held_shares, query_terms

UNIHAKKA = "UNIHAKKA INTERNATIONAL SDN BHD 12, Jalan Tampoi 7/4 TAX INVOICE"
COFFEE_SHOP = "SAM SAM TRADING CO COFFEE SHOP TAX INVOICE"


@stack_free
def test_common_english_words_are_less_rare_than_names():
    rarity = {w: english_words.rarity(w) for w in ("from", "shop", "receipt", "aeon", "unihakka")}
    assert rarity["from"] < rarity["shop"] < rarity["receipt"] < rarity["aeon"] < rarity["unihakka"] == 1.0
    assert 0.2 < rarity["from"] and rarity["shop"] < 0.35, rarity


@stack_free
@pytest.mark.parametrize("query", ["UNIHAKKA shop", "shop at UNIHAKKA", "where did we shop at UNIHAKKA"])
def test_a_shops_name_outweighs_a_generic_word_more_of_the_rows_print(query):
    """The dev gallery's five UNIHAKKA receipts against two that print SHOP: among these rows alone "shop" is the
    rarer word, and weighed by that alone the receipts printed SHOP held 0.76 of "UNIHAKKA shop"."""
    rows = {i: [UNIHAKKA] for i in range(5)} | {5: [COFFEE_SHOP], 6: [COFFEE_SHOP]}
    held = held_shares(query_terms(query), rows)
    assert min(held[i] for i in range(5)) > 0.9 and max(held[5], held[6]) < 0.1, held


@stack_free
def test_among_common_words_the_rows_still_decide():
    """"CASTLE receipt": both are English words; the word on fewer rows weighs more, as before."""
    castle = "CASTLE TRADING RECEIPT NO 123"
    rows = {0: [castle]} | {i: [f"SHOP {i} RECEIPT NO {i}"] for i in range(1, 6)}
    held = held_shares(query_terms("CASTLE receipt"), rows)
    assert held[0] == 1.0 and max(held[i] for i in range(1, 6)) < 0.3, held
