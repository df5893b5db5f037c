from django.http import HttpRequest

from portal.navigation import nav_for


def navigation(request: HttpRequest) -> dict[str, object]:
    return {"nav_items": nav_for(request)}
