from django.apps import AppConfig


class LandcoverConfig(AppConfig):
    name = "landcover"
    verbose_name = "Land cover"

    def ready(self):
        # Django's pattern: modules that register things are imported once the models are loaded. Each job
        # module registers its stored product; then every product's rows take their folders with them.
        from .jobs import areas, change, composites, exports, maps, products, regions, series, uploads  # noqa: F401  (each registers its product)

        products.connect_cleanup()
        composites.connect_cleanup()  # the scene maps composites share
