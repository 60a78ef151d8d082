"""Rows per ReadLog/ScanVectors message: about PAGE_BYTES of vectors, within bounds."""

from vector_worker.metadata_client import MAX_PAGE_ROWS, MIN_PAGE_ROWS, PAGE_BYTES, page_rows


def test_pages_hold_about_page_bytes_of_vectors():
    assert page_rows(384) == PAGE_BYTES // (4 * 384)
    assert page_rows(384) * 384 * 4 <= PAGE_BYTES


def test_pages_are_bounded_and_unknown_dimensions_get_the_largest():
    assert page_rows(1) == MAX_PAGE_ROWS
    assert page_rows(1_000_000) == MIN_PAGE_ROWS
    assert page_rows(0) == MAX_PAGE_ROWS
