"""Cached renderings depend on which articles exist, so any article change starts a new generation."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from guidance.models import Article
from guidance.reading import bump_generation


@receiver(post_save, sender=Article, dispatch_uid="guidance_article_saved")
@receiver(post_delete, sender=Article, dispatch_uid="guidance_article_deleted")
def article_changed(**kwargs: object) -> None:
    bump_generation()
