"""Page-number pagination used by every list endpoint (`?page=`, optional `?page_size=`)."""
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def paginated_response(view, queryset, serializer_class):
    """The page of `queryset` the view's request asks for, serialized, with count/next/previous."""
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    data = serializer_class(page, many=True, context={"request": view.request}).data
    return paginator.get_paginated_response(data)
