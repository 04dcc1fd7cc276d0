"""URL configuration: pages, ``/api/v1/``, the OpenAPI schema and its docs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from acceptance import views as acceptance_views
from acceptance.api import AssetChecksView, ChecklistViewSet
from assets import review_views
from assets import views as asset_views
from assets.provenance_api import AssetProvenanceView, VerifyBatchView, VerifyUploadView
from generation import promote_views
from generation import views as generation_views
from generation.api import GenerationViewSet
from governance import views as governance_views
from governance.api import AuditEventViewSet, PolicyView
from operations import views as operations_views
from plugins import views as plugin_views
from plugins.api import PluginViewSet
from routing.api import BreakerListView, BudgetViewSet, RoutingPolicyViewSet, SpendView
from scorecards import views as scorecard_views
from scorecards.api import BenchmarkViewSet, ScorecardCsvView
from workspace import compare_views
from workspace import views as workspace_views
from workspace.api import CollectionViewSet, ExportView, LibraryAssetViewSet
from workspace.experiments_api import ExperimentViewSet

router = DefaultRouter()
router.register("generations", GenerationViewSet, basename="generation")
router.register("assets", LibraryAssetViewSet, basename="asset")
router.register("collections", CollectionViewSet, basename="collection")
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("plugins", PluginViewSet, basename="plugin")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("routing-policies", RoutingPolicyViewSet, basename="routing-policy")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("checklists", ChecklistViewSet, basename="checklist")
router.register("benchmarks", BenchmarkViewSet, basename="benchmark")

urlpatterns = [
    # For load balancers and Prometheus (docs/deployment.md, "Watching it run").
    path("healthz", operations_views.healthz, name="healthz"),
    path("readyz", operations_views.readyz, name="readyz"),
    path("metrics", operations_views.metrics_view, name="metrics"),
    path("", workspace_views.library, name="library"),
    path("library/bulk/", workspace_views.library_bulk, name="library-bulk"),
    path("collections/", workspace_views.collections, name="collections"),
    path("collections/<uuid:collection_id>/", workspace_views.collection_detail, name="collection-detail-page"),
    path("compare/", compare_views.compare, name="compare"),
    path("experiments/", compare_views.history, name="experiments"),
    path("experiments/<uuid:experiment_id>/", compare_views.experiment_detail, name="experiment-page"),
    path("experiments/<uuid:experiment_id>/cells/<int:cell_id>/", compare_views.experiment_cell, name="experiment-cell-panel"),
    path("experiments/<uuid:experiment_id>/winner/", compare_views.experiment_winner, name="experiment-winner-button"),
    path("experiments/<uuid:experiment_id>/extend/", compare_views.experiment_extend, name="experiment-extend-button"),
    path("assets/<uuid:asset_id>/rerun/", compare_views.rerun_asset, name="asset-rerun"),
    path("assets/<uuid:asset_id>/promote/", promote_views.promote_page, name="asset-promote-page"),
    path("assets/<uuid:asset_id>/promote/panel/", promote_views.promote_panel, name="asset-promote-panel"),
    path("assets/<uuid:asset_id>/", asset_views.asset_detail, name="asset-detail-page"),
    path("assets/<uuid:asset_id>/credentials/", asset_views.asset_credentials, name="asset-credentials-panel"),
    path("assets/<uuid:asset_id>/checks/", acceptance_views.asset_checks_panel, name="asset-checks-panel"),
    path("checklists/", acceptance_views.checklists, name="checklists-page"),
    path("checklists/<int:checklist_id>/", acceptance_views.checklist_page, name="checklist-page"),
    path("benchmarks/", scorecard_views.benchmark_list, name="benchmarks-page"),
    path("benchmarks/<int:benchmark_id>/", scorecard_views.benchmark_detail, name="benchmark-detail-page"),
    path("generate/", generation_views.generate, name="generate"),
    path("jobs/<uuid:job_id>/", generation_views.job_detail, name="job-detail-page"),
    path("jobs/<uuid:job_id>/progress/", generation_views.job_progress, name="job-progress"),
    path("jobs/<uuid:job_id>/cancel/", generation_views.job_cancel, name="job-cancel-page"),
    path("generate/fields/", generation_views.generate_fields, name="generate-fields"),
    path("plugins/", plugin_views.plugin_list, name="plugins-page"),
    path("plugins/<slug:plugin_id>/", plugin_views.plugin_detail, name="plugin-detail-page"),
    path("plugins/<slug:plugin_id>/enabled/", plugin_views.plugin_enabled, name="plugin-enabled-page"),
    path("review/", review_views.review_queue, name="review-queue"),
    path("assets/<uuid:asset_id>/review/", review_views.review_panel, name="asset-review-panel"),
    path(
        "assets/<uuid:asset_id>/review/<slug:action>/",
        review_views.review_action,
        name="asset-review-action",
    ),
    path("audit/", governance_views.audit_log, name="audit-log"),
    path("audit/verify/", governance_views.audit_verify, name="audit-verify"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Provenance routes come before the router so that its asset routes do not shadow them.
    path(
        "api/v1/assets/<uuid:asset_id>/provenance/",
        AssetProvenanceView.as_view(),
        name="asset-provenance",
    ),
    path("api/v1/provenance/verify/", VerifyUploadView.as_view(), name="provenance-verify"),
    path("api/v1/provenance/verify/batch/", VerifyBatchView.as_view(), name="provenance-verify-batch"),
    path("api/v1/assets/<uuid:asset_id>/checks/", AssetChecksView.as_view(), name="asset-checks"),
    path(
        "api/v1/benchmarks/<int:benchmark_id>/scorecard.csv",
        ScorecardCsvView.as_view(),
        name="benchmark-scorecard-csv",
    ),
    path("api/v1/policy/", PolicyView.as_view(), name="policy"),
    path("api/v1/exports/", ExportView.as_view(), name="export"),
    path("api/v1/routing/breakers/", BreakerListView.as_view(), name="routing-breakers"),
    path("api/v1/spend/", SpendView.as_view(), name="spend"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
