from django.contrib import admin

from uploads.models import Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "kind", "content_type", "size", "message", "created_at", "expires_at"]
    list_filter = ["kind", "content_type"]
    search_fields = ["name", "owner__username", "sha256"]
    readonly_fields = ["id", "owner", "content_type", "kind", "size", "sha256", "storage_path", "metadata",
                       "message", "attached_at", "created_at"]
    exclude = ["extracted_text"]

    def has_add_permission(self, request):
        return False  # files come in through the API, where their bytes are checked

    def delete_model(self, request, obj):
        from uploads.services import upload_delete

        upload_delete(upload=obj)

    def delete_queryset(self, request, queryset):
        from uploads.services import upload_delete

        for upload in queryset:
            upload_delete(upload=upload)
