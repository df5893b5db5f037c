"""Pages of cases read through the index of their sort.

`OFFSET 9975` over the rows themselves makes PostgreSQL read, join and throw away ten thousand cases; over the
index of the sort it reads ten thousand index entries and nothing else (cases/models.py has an index of
(partner, ...) for every sort the pages offer). So a page's ids come first, from the index alone, and then
only those rows with what the page shows of them.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet

from cases.models import Case


class IndexPaginator(Paginator):
    """A Paginator whose pages read their ids first; subclasses say how to read the rows of those ids."""

    def rows(self, ids: QuerySet, ordering: tuple[str, ...]) -> QuerySet:
        raise NotImplementedError

    def page(self, number: Any):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = self.object_list.values("pk")[bottom : bottom + self.per_page]
        rows = self.rows(ids, tuple(self.object_list.query.order_by))
        return self._get_page(list(rows), number, self)


class CaseRowsPaginator(IndexPaginator):
    """Case rows as the web lists show them (CaseQuerySet.rows())."""

    def rows(self, ids: QuerySet, ordering: tuple[str, ...]) -> QuerySet:
        return Case.objects.filter(pk__in=ids).order_by(*ordering).rows()
